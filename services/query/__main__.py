from services.query.processes import main

main()
