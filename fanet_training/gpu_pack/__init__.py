"""An offline GPU training pack: one folder (at most 64 MiB) that trains FANet and FSFFNet on a
GPU box that has PyTorch or JAX with CUDA but no TensorFlow, no Keras and no internet.

Build it where the training extra is installed::

    python -m fanet_training.gpu_pack build OUT_DIR --dataset-root /data/camvid --layout camvid

and on the GPU box run ``OUT_DIR/run.sh OUTPUT`` (see ``OUT_DIR/README.md``). The pack holds::

    pack.json      what was built (target Python, dataset layout and counts, wheels)
    run.py         stdlib-only: installs the wheels into a scratch folder, trains, evaluates
    run.sh         ``python3 run.py "$@"``
    README.md      how to run it and export the results afterwards
    wheels/        Keras and the small wheels it needs (manifest.json: import name per wheel)
    code/          fanet_training and the parts of fanet_ros it imports (.py files only)
    data/          the dataset re-encoded: JPEG images, PNG labels

Modules: :mod:`.wheels` (download, pick from a folder, or repack installed ones),
:mod:`.sources` (which modules training imports), :mod:`.dataset` (re-encoding),
:mod:`.build` (the command line), :mod:`.run_pack` (becomes ``run.py``).
"""
