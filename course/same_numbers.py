"""Settings under which a CPU training run gives the same numbers on every x86-64 processor with AVX2.

PyTorch picks its CPU kernels by the instructions the processor has: oneDNN (the LSTM), MKL (matrix
products) and ATen's vectorised loops each use AVX-512 where it exists and AVX2 where it does not, and
the two round differently. A recurrent network's training is chaotic, so a different last bit in one
step gives a different run after a few epochs: the spikes of seq_classification come and go with the
processor. Capping all three at AVX2 makes the grader's run, the calibration runs of ``course`` and a
student's run in Colab the same run wherever they happen (the seq_classification notebook sets the same
variables in its first cell). The caps cost little for the notebooks' small models.

They take effect only when set before torch is imported: in a kernel's environment, or at the top of
a script or a notebook.
"""

SAME_NUMBERS_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
