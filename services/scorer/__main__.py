from services.scorer.main import main

main()
