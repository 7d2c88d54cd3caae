"""python -m services.personnel"""

from chassis.runtime import serve

from .bootstrap import build

if __name__ == "__main__":
    app, settings = build()
    serve(app, settings)
