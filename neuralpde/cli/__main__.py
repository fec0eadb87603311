"""``python -m neuralpde.cli``: the ``neuralpde`` command (:func:`neuralpde.cli.shell.entry`)."""

from neuralpde.cli.shell import entry

if __name__ == "__main__":
    entry()
