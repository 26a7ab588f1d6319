"""``python -m models.tiny DIR``: stage the tiny random-weight full model set into ``DIR``."""

import logging
import sys
from pathlib import Path

from models.tiny import stage

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if len(sys.argv) != 2:
        sys.exit("usage: python -m models.tiny MODEL_DIR")
    for name, folder in stage(Path(sys.argv[1])).items():
        logging.info("%s: %s", name, folder)
