"""The log file in the home folder, where support finds what the foutmeldingen leave out (a traceback).

Every process that runs koppelingen (console, `koppelaar run`, the daemon) writes to it; the
foutmelding of an internal error names it."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_FILE = "koppelaar.log"
LOGGER = "koppelaar"
MAX_BYTES = 2_000_000
BACKUPS = 3


def log_path(home_root: Path) -> Path:
    return home_root / LOG_FILE


def log_to_file(home_root: Path) -> Path:
    """Send the `koppelaar` loggers to the home's log file (once per file); returns its path."""
    path = log_path(home_root)
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if isinstance(handler, RotatingFileHandler):
            if Path(handler.baseFilename) == path:
                return path
            # One home per process: a handler left by an earlier home (tests) is closed, not kept.
            logger.removeHandler(handler)
            handler.close()
    handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return path
