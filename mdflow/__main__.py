from mdflow.cli import main

raise SystemExit(main())
