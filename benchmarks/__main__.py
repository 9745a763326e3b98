"""`python -m benchmarks`: run the overhead benchmark (see `benchmarks.run`)."""

from .run import main

raise SystemExit(main())
