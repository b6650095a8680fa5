VERSION = "1.0.0"


def shout(text):
    return text.upper() + "!"
