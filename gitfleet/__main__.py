from gitfleet.entry import main

main()
