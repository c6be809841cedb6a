"""The "Before you submit" cell of each notebook: what it tells a student about a notebook that is ready,
and about each way one is not (unfinished code, a check not run or run before a change, cells out of
order, weights missing or stale). Run on the cell's own code, against a namespace like the kernel's."""

import ast
import contextlib
import importlib.util
import io
import sys
import types

import pytest
import torch

from course.assignment import ASSIGNMENT, NOTEBOOKS
from course.tools.notebooks import grade_id, read
from support import REPO, weights_encoder


def cell_code(notebook: str) -> tuple[str, dict]:
    """The cell's definitions and the lists its last line passes them (todo, answers, checks, models)."""
    cell = next(c for c in read(str(REPO / "source" / ASSIGNMENT / f"{notebook}.ipynb")).cells
                if grade_id(c) == "before_you_submit")
    body, call = cell.source.strip().rsplit("\n", 1)
    arguments = {k.arg: ast.literal_eval(k.value) for k in ast.parse(call).body[0].value.keywords}
    return body, arguments


def student_namespace(tmp_path, notebook: str, unfinished=()) -> dict:
    """A namespace where every TODO of the notebook is a real function (``unfinished`` ones still raise
    NotImplementedError), every answer is set, every visible check passed in order on the current
    objects, and the models' weights are stored as the submit_weights cell stores them."""
    _, arguments = cell_code(notebook)
    lines = []
    for name in arguments["todo"]:
        body = "raise NotImplementedError" if name in unfinished else "return 1"
        lines += [f"def {name}(*args):", f"    {body}", ""]
    module_path = tmp_path / f"{notebook}_cells.py"
    module_path.write_text("\n".join(lines))
    spec = importlib.util.spec_from_file_location(f"{notebook}_cells", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    namespace = {name: getattr(module, name) for name in arguments["todo"]}
    namespace.update({name: 1 for name in arguments["answers"]})
    namespace["VISIBLE_CHECKS"] = {name: (count, [id(namespace.get(o)) for o in objects])
                                   for count, (name, objects) in enumerate(arguments["checks"].items(), start=1)}
    if arguments["models"]:
        encoder = weights_encoder(notebook)
        namespace.update(encoder)
        models = {stored: torch.nn.Linear(3, 2) for stored in arguments["models"]}
        namespace.update({variable: models[stored] for stored, variable in arguments["models"].items()})
        payload = encoder["encode_weights"](models, torch.float16)
        namespace["STORED_WEIGHTS"] = {"sha256": payload["sha256"], "bytes": payload["bytes"], "models": models,
                                       "dtype": torch.float16}
    return namespace


def verdict(notebook: str, namespace: dict) -> str:
    """What the cell prints for ``namespace``."""
    body, arguments = cell_code(notebook)
    definitions = {}
    exec(compile(body, "<cell before_you_submit>", "exec"), definitions)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        definitions["before_you_submit"](namespace, **arguments)
    return printed.getvalue()


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_is_a_finished_checked_notebook_with_stored_weights_called_ready(tmp_path, notebook):
    said = verdict(notebook, student_namespace(tmp_path, notebook))
    assert "NOT READY" not in said and "The notebook is ready" in said, said


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_does_it_name_each_function_still_to_write(tmp_path, notebook):
    todo = cell_code(notebook)[1]["todo"]
    said = verdict(notebook, student_namespace(tmp_path, notebook, unfinished=todo[-1:]))
    assert f"NOT READY: {todo[-1]} still raises NotImplementedError" in said, said
    assert "is NOT ready to download: 1 thing(s)" in said, said


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_does_it_name_a_missing_answer_and_a_check_that_did_not_run(tmp_path, notebook):
    _, arguments = cell_code(notebook)
    namespace = student_namespace(tmp_path, notebook)
    answer, check = arguments["answers"][0], list(arguments["checks"])[-1]
    del namespace[answer]
    del namespace["VISIBLE_CHECKS"][check]
    said = verdict(notebook, namespace)
    assert f"the answer {answer} is not set" in said and f"the visible checks of {check} did not pass" in said, said


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_does_it_notice_code_redefined_after_its_check(tmp_path, notebook):
    _, arguments = cell_code(notebook)
    namespace = student_namespace(tmp_path, notebook)
    check, objects = next(iter(arguments["checks"].items()))
    namespace[objects[0]] = lambda *args: 2  # the cell run again, edited, after its check
    assert f"{check} changed after its visible checks ran" in verdict(notebook, namespace)


def test_does_it_notice_checks_run_out_of_order(tmp_path):
    namespace = student_namespace(tmp_path, "hw2_cnn")
    first, second = list(namespace["VISIBLE_CHECKS"])[:2]
    checks = namespace["VISIBLE_CHECKS"]
    checks[first], checks[second] = (checks[second][0], checks[first][1]), (checks[first][0], checks[second][1])
    assert "cells ran out of order" in verdict("hw2_cnn", namespace)


@pytest.mark.parametrize("notebook", ["hw2_cnn", "hw2_rnn"])
def test_does_it_notice_weights_missing_stale_or_of_another_model(tmp_path, notebook):
    models = cell_code(notebook)[1]["models"]
    stored, variable = next(iter(models.items()))
    namespace = student_namespace(tmp_path, notebook)
    with torch.no_grad():
        namespace[variable].weight.add_(1.0)  # trained on after the weights were stored
    assert "your models changed after their weights were stored" in verdict(notebook, namespace)

    namespace = student_namespace(tmp_path, notebook)
    namespace[variable] = torch.nn.Linear(3, 2)  # a new model trained in its place
    assert "a model was replaced after its weights were stored" in verdict(notebook, namespace)

    namespace = student_namespace(tmp_path, notebook)
    del namespace["STORED_WEIGHTS"]
    assert "the trained weights are not stored" in verdict(notebook, namespace)


@pytest.mark.parametrize("megabytes, said", [(3, "notebook file: 3.0 MB (limit 20 MB)"),
                                             (45, "NOT READY: the notebook file takes 45.0 MB, over the upload limit")])
def test_does_it_report_the_files_size_as_colab_would_download_it(tmp_path, monkeypatch, megabytes, said):
    """In Colab the kernel asks the front end for the notebook (google.colab's get_ipynb request): here a
    stand-in module answers it with a notebook of the given size."""
    colab = types.ModuleType("google.colab")
    colab._message = types.SimpleNamespace(
        blocking_request=lambda request, timeout_sec: {"ipynb": {"cells": ["x" * (megabytes * 1_000_000 - 13)]}})
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert said in verdict("hw2_cnn", student_namespace(tmp_path, "hw2_cnn"))


def test_does_it_say_outside_colab_that_the_size_is_unknown(tmp_path):
    assert "the file's size is known in Colab only" in verdict("hw2_cnn", student_namespace(tmp_path, "hw2_cnn"))
