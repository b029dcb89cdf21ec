from avrec.cli import main

main()
