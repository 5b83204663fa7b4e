"""The "Ingest Pipelines" document's examples, unchanged but for the import line.

Serve it with ``cascade-rt serve examples/ingest_pipelines.py`` and post records:

    curl -H 'Content-Type: application/json' localhost:4000/ingest/ExamplePipeline -d '[{"id": "1", "name": "a", "value": 1.5}]'
"""

from datetime import datetime
from typing import Any, Dict, List, Optional

from pydantic import BaseModel, Field  # the document uses Field without importing it

from cascade_rt import IngestPipeline, Key


# Define your schema
class ExampleSchema(BaseModel):
    id: Key[str]          # Key must specify string as underlying type
    name: str
    value: float

# Basic pipeline configuration with schema type
ExamplePipeline = IngestPipeline[ExampleSchema](
    "ExamplePipeline",
    {
        "table": True,      # Creates a basic table
        "stream": True,     # Creates a basic stream
        "ingest_api": {
            "format": "JSON_ARRAY"        # Specify ingestion format
        }
    }
)


# Schema with various field types to demonstrate configuration options
class ComprehensiveSchema(BaseModel):
    id: Key[str]          # Required Key field with string type
    timestamp: datetime   # Timestamp for time-series data
    value: float
    tags: Optional[List[str]] = None  # Optional array of tags
    metadata: Dict[str, Any] = Field(
        ...,
        description="Metadata about the record",
        example={
            "source": "api",
            "priority": 1
        }
    )

# Pipeline demonstrating all configuration options
ComprehensivePipeline = IngestPipeline[ComprehensiveSchema](
    "ComprehensivePipeline",
    {
        # Table configuration with all options
        "table": {
            "order_by_fields": ["id", "timestamp"],  # Specify sort order
            "deduplicate": True                      # Enable deduplication
        },

        # Stream configuration with all options
        "stream": {
            "parallelism": 4,                       # Number of parallel processing threads
            "retention_period": 86400              # 24 hours retention
        },

        # Ingest configuration with all options
        "ingest_api": {
            "format": "JSON_ARRAY"                 # Specify ingestion format
        }
    }
)
