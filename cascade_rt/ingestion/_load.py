"""Import a user's app (a ``.py`` file path or a module name) so its definitions register."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_app(app: str) -> ModuleType:
    """Import ``app`` and return the module; importing twice returns the module already loaded.

    A path ending in ``.py`` is imported as a module named after the file, with its directory put
    first on ``sys.path`` (so the app can import its siblings); a file inside a package (a Moose
    project's ``app/main.py``) is imported by its dotted name (``app.main``), with the directory
    above the package on ``sys.path``. Anything else is a module name.

    Raises:
        FileNotFoundError: the file does not exist.
        ModuleNotFoundError: no module of that name.
    """
    if app.endswith(".py") or "/" in app or "\\" in app:
        path = Path(app).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"app file {app!r} not found")
        for module in list(sys.modules.values()):
            if getattr(module, "__file__", None) and Path(module.__file__).resolve() == path:  # type: ignore[arg-type]
                return module
        if (path.parent / "__init__.py").is_file():
            root, parts = path.parent, [path.stem]
            while (root / "__init__.py").is_file():
                parts.insert(0, root.name)
                root = root.parent
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return importlib.import_module(".".join(parts))
        directory = str(path.parent)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        name = path.stem if path.stem not in sys.modules else f"cascade_app_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import app file {app!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    return importlib.import_module(app)
