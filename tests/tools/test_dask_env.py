"""Does a cluster started by hand get the grading cluster's quiet Dask settings from `course dask-env`?"""

import json
import os
import subprocess
import sys

from course.tools.cluster import QUIET_WORKERS


def test_do_the_printed_exports_give_a_dask_process_the_settings_of_the_cluster_made_here():
    printed = subprocess.run([os.path.join(os.path.dirname(sys.executable), "course"), "dask-env"],
                             capture_output=True, text=True, check=True).stdout
    lines = printed.splitlines()
    assert lines and all(line.startswith("export DASK_") for line in lines)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    env.update(line.removeprefix("export ").split("=", 1) for line in lines)
    read = subprocess.run([sys.executable, "-c", "import dask, distributed, json, sys; "
                           "print(json.dumps({key: dask.config.get(key) for key in json.loads(sys.argv[1])}))",
                           json.dumps(list(QUIET_WORKERS))], capture_output=True, text=True, check=True, env=env).stdout
    assert json.loads(read) == QUIET_WORKERS
