"""`python -m bot` is the `tidings` command."""

from bot.cli import main

raise SystemExit(main())
