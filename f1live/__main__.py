from f1live.cli import main

raise SystemExit(main())
