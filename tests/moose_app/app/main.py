# Moose's template app/main.py (without the views and workflows it also imports).
from app.ingest import models, transforms, archive
import app.apis.bar as bar_api
