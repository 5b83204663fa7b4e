"""Iceberg tables: catalog, creation and evolution, Arrow upserts, branches, SQL, the writer actor."""

from ._bounds import install as _install_bounds
from ._branches import drop_branch as drop_branch
from ._branches import ensure_branch as ensure_branch
from ._branches import list_branches as list_branches
from ._branches import publish_branch as publish_branch
from ._branches import read_branch as read_branch
from ._catalog import ensure_namespace as ensure_namespace
from ._catalog import open_catalog as open_catalog
from ._catalog import resolve_home as resolve_home
from ._compact import CompactionPlan as CompactionPlan
from ._compact import CompactionResult as CompactionResult
from ._compact import compact as compact
from ._compact import plan_compaction as plan_compaction
from ._create import ensure_table as ensure_table
from ._create import evolve_schema as evolve_schema
from ._create import parse_partition_by as parse_partition_by
from ._group import coalesce as coalesce
from ._orphans import OrphanResult as OrphanResult
from ._orphans import remove_orphans as remove_orphans
from ._query import query as query
from ._query import referenced_tables as referenced_tables
from ._scan import scan_arrow as scan_arrow
from ._schedule import MaintenanceCounters as MaintenanceCounters
from ._sources import committed_positions as committed_positions
from ._stats import TableStats as TableStats
from ._stats import table_stats as table_stats
from ._ttl import Ttl as Ttl
from ._ttl import TtlResult as TtlResult
from ._ttl import expire_rows as expire_rows
from ._ttl import parse_ttl as parse_ttl
from ._upsert import CommitResult as CommitResult
from ._upsert import commit_append as commit_append
from ._upsert import commit_upsert as commit_upsert
from ._upsert import compact_deletes as compact_deletes
from ._upsert import conform as conform
from ._upsert import dedupe_last as dedupe_last
from ._writer import Flush as Flush
from ._writer import Maintain as Maintain
from ._writer import Merge as Merge
from ._writer import Positions as Positions
from ._writer import Stats as Stats
from ._writer import TableWriter as TableWriter
from ._writer import Write as Write
from ._writer import WriterStatistics as WriterStatistics

_install_bounds()  # string upper bounds valid for every Unicode string (see _bounds)

__all__ = (
    "CommitResult",
    "CompactionPlan",
    "CompactionResult",
    "Flush",
    "Maintain",
    "MaintenanceCounters",
    "Merge",
    "OrphanResult",
    "Positions",
    "Stats",
    "TableStats",
    "TableWriter",
    "Ttl",
    "TtlResult",
    "Write",
    "WriterStatistics",
    "coalesce",
    "commit_append",
    "commit_upsert",
    "committed_positions",
    "compact",
    "compact_deletes",
    "conform",
    "dedupe_last",
    "drop_branch",
    "ensure_branch",
    "ensure_namespace",
    "ensure_table",
    "evolve_schema",
    "expire_rows",
    "list_branches",
    "open_catalog",
    "parse_partition_by",
    "parse_ttl",
    "plan_compaction",
    "publish_branch",
    "query",
    "read_branch",
    "referenced_tables",
    "remove_orphans",
    "resolve_home",
    "scan_arrow",
    "table_stats",
)
