"""One family of errors: the CLI prints the message on one line and exits with the class's code."""

from __future__ import annotations


class ToolkitError(Exception):
    """Base of every error the toolkit reports to a user; `exit_code` is what the CLI returns."""

    exit_code = 1


class UsageError(ToolkitError):
    """The command line or API call is malformed (bad option value, unknown target)."""

    exit_code = 2


class InputError(ToolkitError):
    """A file, model or tensor the user supplied is missing, corrupt or of the wrong shape."""

    exit_code = 2


class ExportError(ToolkitError):
    """A framework exporter (torch.onnx, tf2onnx) failed on a model that loaded fine."""

    exit_code = 1


class ParityError(ToolkitError):
    """A candidate does not compute the same thing as the reference."""

    exit_code = 1


class UnsupportedOperatorError(InputError):
    """Every node an importer cannot handle, listed at once before any work is done."""

    def __init__(self, unsupported: list[tuple[str, str, int, str]], target: str = ""):
        self.unsupported = unsupported
        listed = "; ".join(
            f"{node or '<unnamed>'} ({(domain + '::') if domain else ''}{op}, opset {opset})"
            for domain, op, opset, node in unsupported
        )
        where = f" to {target}" if target else ""
        super().__init__(
            f"{len(unsupported)} node(s) cannot be imported{where}: {listed}. "
            "Re-export with a different opset or file an issue with these operators."
        )
