"""`toolkit transfer-weights SRC DST -o OUT`: a trained model's weights into its hand-written twin."""

from __future__ import annotations

import click


@click.command("transfer-weights")
@click.argument("source")
@click.argument("destination")
@click.option(
    "-o", "--output", required=True, type=click.Path(), help="DST's checkpoint: .pt or .weights.h5."
)
def transfer_weights_command(source, destination, output):
    """Copy SOURCE's weights into DESTINATION (a factory for the twin written in the other framework).

    Parameters are matched through both ONNX graphs (order of use, operator, shape under the known
    layout transforms); ambiguous or unmatched ones are listed and nothing is written. The result's
    outputs are checked against SOURCE's before the checkpoint is written.
    """
    from rich.table import Table

    from toolkit.terminal import console
    from toolkit.training.transfer import transfer_weights

    result = transfer_weights(source, destination, output)
    table = Table(title=f"{len(result.matches)} parameters: {source} -> {destination}")
    for column in ("source", "destination", "operator", "shape"):
        table.add_column(column)
    for pair in result.matches:
        table.add_row(
            pair.source.name, pair.destination.name, pair.source.kind, str(pair.source.canonical_shape)
        )
    console().print(table)
    if result.recurrent_parameters:
        click.echo(
            f"and {result.recurrent_parameters} LSTM parameters, cell by cell (gates i, f, c, o; torch's two biases summed)"
        )
    click.echo(f"wrote {output}; outputs agree (max abs difference {result.max_abs_difference:.2e})")
