"""``python -m fanet_training.gpu_pack build OUT_DIR ...``."""

import sys

from fanet_training.gpu_pack.build import main

sys.exit(main())
