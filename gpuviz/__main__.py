from gpuviz.cli import main

raise SystemExit(main())
