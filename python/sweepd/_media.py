"""Stand-ins for W&B's media and artifact types (Image, Table, Histogram, ...).

Each accepts any arguments and keeps them, so code that builds them runs
unchanged; sweepd keeps numbers only, so `log()` drops them (with one
warning per key). They have no `item()`, so they are never mistaken for
scalars.
"""


class _Media:
    """Accepts and keeps any arguments."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

    def __repr__(self):
        return "<sweepd %s (not kept)>" % type(self).__name__


class Image(_Media):
    pass


class Audio(_Media):
    pass


class Video(_Media):
    pass


class Html(_Media):
    pass


class Object3D(_Media):
    pass


class Molecule(_Media):
    pass


class Plotly(_Media):
    pass


class Graph(_Media):
    pass


class Histogram(_Media):
    pass


class Table(_Media):
    """Keeps its columns and rows, so code that reads them back still works."""

    def __init__(self, columns=None, data=None, rows=None, dataframe=None, **kwargs):
        super().__init__(columns=columns, data=data, rows=rows, dataframe=dataframe, **kwargs)
        self.columns = list(columns or [])
        self.data = [list(row) for row in (data or rows or [])]

    def add_data(self, *row):
        self.data.append(list(row))

    def add_row(self, *row):
        self.add_data(*row)

    def add_column(self, name, data, optional=False):
        self.columns.append(name)
        for row, value in zip(self.data, data):
            row.append(value)

    def get_column(self, name, convert_to=None):
        index = self.columns.index(name)
        return [row[index] for row in self.data]


class Artifact(_Media):
    """W&B's versioned files; sweepd stores none, the methods do nothing."""

    def __init__(self, name=None, type=None, description=None, metadata=None, **kwargs):
        super().__init__(name=name, type=type, description=description, **kwargs)
        self.name = name
        self.type = type
        self.description = description
        self.metadata = dict(metadata or {})

    def add_file(self, *args, **kwargs):
        return None

    def add_dir(self, *args, **kwargs):
        return None

    def add_reference(self, *args, **kwargs):
        return []

    def add(self, *args, **kwargs):
        return None

    def wait(self, *args, **kwargs):
        return self

    def save(self, *args, **kwargs):
        return None


class _Plot:
    """`wandb.plot.line(...)` and its siblings: each returns a stand-in."""

    class Chart(_Media):
        pass

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _Plot.Chart


plot = _Plot()
