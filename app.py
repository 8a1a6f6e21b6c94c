"""GEM Studio entry point (also the Hugging Face Spaces entry point): ``python app.py``."""

from app.main import main

if __name__ == "__main__":
    main()
