"""Model files: arrays and JSON metadata in one zip, loaded without pickle.

    write(path, arrays, meta)       # atomic; arrays as .npy, meta as meta.json
    arrays, meta = read(path)       # ModelFileError for missing, corrupt,
                                    # truncated, foreign or newer files

This package knows nothing of estimators; ``xentlearn.estimators`` maps a
fitted estimator to ``(arrays, meta)`` and back.
"""

from xentlearn.io._format import FORMAT_VERSION, read, write

__all__ = ["FORMAT_VERSION", "read", "write"]
