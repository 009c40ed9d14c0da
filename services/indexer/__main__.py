from services.indexer.main import main

main()
