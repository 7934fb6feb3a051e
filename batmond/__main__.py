from batmond.cli import main

raise SystemExit(main())
