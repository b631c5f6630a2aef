from iconiq.cli.main import main

raise SystemExit(main())
