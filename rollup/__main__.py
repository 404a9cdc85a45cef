from rollup.cli.main import main

raise SystemExit(main())
