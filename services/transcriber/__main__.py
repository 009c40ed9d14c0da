from services.transcriber.main import main

main()
