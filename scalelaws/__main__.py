from scalelaws.cli import main

main()
