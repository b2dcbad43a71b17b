"""The core (app/config, app/core) never reaches into the demo, by import or by dotted path.

tests/integration/test_starter.py proves it end to end on a copy without the demo; this says at
once which line broke it.
"""

import ast
from pathlib import Path

from django.conf import settings

APP = Path(settings.BASE_DIR)
CORE = [APP / "config", APP / "core"]
DEMO = ("bench", "realtime")


def in_demo(module: str) -> bool:
    return module.split(".")[0] in DEMO


def test_the_demo_is_the_site_while_it_is_on():
    assert settings.DEMO_ENABLED
    assert list(DEMO) == settings.SITE_APPS


def test_no_core_module_imports_the_demo():
    found = []
    for path in (p for folder in CORE for p in folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            where = f"{path.relative_to(APP)}:{getattr(node, 'lineno', '?')}"
            found += [f"{where} imports {name}" for name in names if in_demo(name)]
    assert not found, found


def test_no_core_setting_names_a_demo_module():
    dotted = [*settings.MIDDLEWARE, settings.ROOT_URLCONF, settings.WSGI_APPLICATION,
              settings.ASGI_APPLICATION, *(layer["BACKEND"] for layer in settings.CHANNEL_LAYERS.values())]
    assert not [name for name in dotted if in_demo(name)]
