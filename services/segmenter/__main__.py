from services.segmenter.main import main

main()
