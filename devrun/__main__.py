from devrun.cli import main

main()
