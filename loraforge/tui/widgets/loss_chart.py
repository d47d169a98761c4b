"""The loss chart of the run view: training and evaluation loss against the step, on one chart.

Drawn by plotext (textual-plotext). The two curves differ by their marks,
not only by colour, so that the chart reads the same with ``NO_COLOR=1`` or
16 colours: training loss is a braille line, evaluation loss ``×`` marks. A long run is averaged down to what the chart's width can show.
"""

from __future__ import annotations

from textual_plotext import PlotextPlot

EVAL_MARKER = "×"


def downsample(points: list[tuple[int, float]], most: int) -> list[tuple[float, float]]:
    """At most ``most`` points: the means of consecutive runs of them, the last one kept as it is."""
    if most <= 0 or len(points) <= most:
        return [(float(x), y) for x, y in points]
    size = len(points) / most
    means = []
    for index in range(most):
        chunk = points[int(index * size):int((index + 1) * size)] or points[-1:]
        means.append((sum(x for x, _ in chunk) / len(chunk), sum(y for _, y in chunk) / len(chunk)))
    means[-1] = (float(points[-1][0]), points[-1][1])
    return means


class LossChart(PlotextPlot):
    """Training loss and evaluation loss of a run, drawn anew whenever they change."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.train: list[tuple[int, float]] = []
        self.eval: list[tuple[int, float]] = []

    def on_mount(self) -> None:
        super().on_mount()
        self.draw()

    def on_resize(self) -> None:
        self.draw()

    def show(self, train: dict[int, float], evaluated: dict[int, float]) -> None:
        train_points, eval_points = sorted(train.items()), sorted(evaluated.items())
        if (train_points, eval_points) == (self.train, self.eval):
            return
        self.train, self.eval = train_points, eval_points
        self.draw()

    def draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        width = max(self.size.width - 10, 10)  # less the y axis' labels
        if self.train:
            plt.plot(*zip(*downsample(self.train, 2 * width)), marker="braille")
        if self.eval:
            # points, not a line: evaluations are few (one an epoch), a line of marks is noise
            plt.scatter(*zip(*downsample(self.eval, width)), marker=EVAL_MARKER)
        # the key is on the axis' line: plotext's legend would hide the first steps' losses
        if self.train or self.eval:
            plt.xlabel(f"step   ⠉⠒⠤ train loss   {EVAL_MARKER} eval loss")
        else:
            plt.xlabel("step   (the loss appears here from the first logged step)")
        self.refresh()
