from seamfuzz.cli import main
import sys
sys.exit(main())
