VERSION = "1.0.0"


def greet(name):
    return f"Bonjour, {name}"
