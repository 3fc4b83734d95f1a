"""The selection arguments shared by the journey and rebuild commands, declared once so their
names, metavars and repeat behaviour stay the same everywhere (SPEC §4, §6: `--start=1` and
`--start 1` both work; `--user` and `--conv-id` repeat). Values stay text: the services validate
them with `tracker.arguments` and name the argument in their errors."""


def add_window_arguments(parser, start_help, end_help):
    parser.add_argument("--start", metavar="EPOCH", help=start_help)
    parser.add_argument("--end", metavar="EPOCH", help=end_help)


def add_repeated_id_argument(parser, flag, dest, help_text):
    """A repeatable id option (`--user 1 --user 2`), collected into a list (None when absent)."""
    parser.add_argument(flag, action="append", dest=dest, metavar="ID", help=f"{help_text}; repeat for several.")
