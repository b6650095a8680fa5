"""The demo product: greets through whichever greeter plugin is selected."""

import importlib


def describe():
    import text_utils

    lines = [f"text-utils {text_utils.VERSION}: {text_utils.shout('hello from the core')}"]
    for name in ("greeter_en", "greeter_fr"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        lines.append(f"{name.replace('_', '-')} {module.VERSION}: {module.greet('hpm')}")
    return "\n".join(lines)
