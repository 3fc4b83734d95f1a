"""The Prosper202 tables this project reads and writes (SPEC §3.1), as data.

One description serves three jobs: the MySQL/MariaDB DDL (exactly Prosper202's columns, types
and keys), the SQLite equivalent for the embedded default and tests, and the expectations that
`check_schema` compares a live database against. Django migrations never touch these tables.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    mysql_type: str  # as Prosper202's DDL spells it, e.g. "mediumint(8) unsigned"
    nullable: bool = False
    default: str | None = None  # SQL literal, e.g. "0" or "'csv'"
    auto_increment: bool = False


@dataclass(frozen=True)
class Key:
    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    keys: tuple[Key, ...] = ()
    # Tables this project writes in production: a narrower or signed column there can lose data.
    written_by_project: bool = False
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))

    def column(self, name):
        return next(c for c in self.columns if c.name == name)


def _c(name, mysql_type, **options):
    return Column(name, mysql_type, **options)


UINT = "int(10) unsigned"
MEDIUM_UINT = "mediumint(8) unsigned"
BIG_UINT = "bigint(20) unsigned"

TABLES = (
    Table(
        "202_users",
        (
            _c("user_id", MEDIUM_UINT, auto_increment=True),
            _c("user_name", "varchar(50)"),
            _c("user_email", "varchar(100)"),
            _c("user_timezone", "varchar(50)", default="'America/Los_Angeles'"),
            _c("user_deleted", "int(1)", default="0"),
        ),
        primary_key=("user_id",),
    ),
    Table(
        "202_aff_networks",
        (
            _c("aff_network_id", MEDIUM_UINT, auto_increment=True),
            _c("user_id", MEDIUM_UINT),
            _c("aff_network_name", "varchar(50)"),
            _c("aff_network_deleted", "tinyint(1)", default="0"),
        ),
        primary_key=("aff_network_id",),
        keys=(Key("user_id", ("user_id",)),),
    ),
    Table(
        "202_aff_campaigns",
        (
            _c("aff_campaign_id", MEDIUM_UINT, auto_increment=True),
            _c("user_id", MEDIUM_UINT),
            _c("aff_network_id", MEDIUM_UINT),
            _c("aff_campaign_name", "varchar(50)"),
            _c("aff_campaign_payout", "decimal(8,2)"),
            _c("aff_campaign_deleted", "tinyint(1)", default="0"),
        ),
        primary_key=("aff_campaign_id",),
        keys=(Key("user_id", ("user_id",)), Key("aff_network_id", ("aff_network_id",))),
    ),
    Table(
        "202_landing_pages",
        (
            _c("landing_page_id", MEDIUM_UINT, auto_increment=True),
            _c("user_id", MEDIUM_UINT),
            _c("aff_campaign_id", MEDIUM_UINT),
            _c("landing_page_nickname", "varchar(50)"),
            _c("landing_page_url", "varchar(255)"),
            _c("landing_page_deleted", "tinyint(1)", default="0"),
        ),
        primary_key=("landing_page_id",),
        keys=(Key("user_id", ("user_id",)),),
    ),
    Table(
        "202_ppc_accounts",
        (
            _c("ppc_account_id", MEDIUM_UINT, auto_increment=True),
            _c("user_id", MEDIUM_UINT),
            _c("ppc_network_id", MEDIUM_UINT),
            _c("ppc_account_name", "varchar(50)"),
            _c("ppc_account_deleted", "tinyint(1)", default="0"),
        ),
        primary_key=("ppc_account_id",),
        keys=(Key("user_id", ("user_id",)),),
    ),
    Table(
        "202_clicks",
        (
            _c("click_id", BIG_UINT),
            _c("user_id", MEDIUM_UINT),
            _c("aff_campaign_id", MEDIUM_UINT, default="0"),
            _c("landing_page_id", MEDIUM_UINT, default="0"),
            _c("ppc_account_id", MEDIUM_UINT),
            _c("click_cpc", "decimal(7,5)"),
            _c("click_payout", "decimal(11,5)", default="0.00000"),
            _c("click_lead", "tinyint(1)", default="0"),
            _c("click_filtered", "tinyint(1)", default="0"),
            _c("click_bot", "tinyint(1)", default="0"),
            _c("click_alp", "tinyint(1)", default="0"),
            _c("click_time", UINT),
            _c("rotator_id", UINT, default="0"),
        ),
        keys=(
            Key("click_id", ("click_id",)),
            Key("user_click_time", ("user_id", "click_time")),
            Key("aff_campaign_id", ("aff_campaign_id",)),
        ),
    ),
    Table(
        "202_clicks_advance",
        (
            _c("click_id", BIG_UINT),
            _c("ip_id", BIG_UINT),
        ),
        primary_key=("click_id",),
        keys=(Key("ip_id", ("ip_id",)),),
    ),
    Table(
        "202_conversion_logs",
        (
            _c("conv_id", "int(11) unsigned", auto_increment=True),
            _c("click_id", BIG_UINT),
            _c("transaction_id", "varchar(255)", nullable=True),
            _c("campaign_id", MEDIUM_UINT),
            _c("click_payout", "decimal(11,5)"),
            _c("user_id", MEDIUM_UINT),
            _c("click_time", "int(10)"),
            _c("conv_time", "int(10)"),
            _c("time_difference", "text"),
            _c("ip", "varchar(45)", default="''"),
            _c("pixel_type", "int(11) unsigned"),
            _c("user_agent", "text"),
            _c("deleted", "tinyint(4)", default="0"),
        ),
        primary_key=("conv_id",),
        keys=(
            Key("uniq_click_transaction", ("click_id", "transaction_id"), unique=True),
            Key("user_id", ("user_id",)),
            Key("campaign_id", ("campaign_id",)),
        ),
    ),
    Table(
        "202_conversion_touchpoints",
        (
            _c("touchpoint_id", BIG_UINT, auto_increment=True),
            _c("conv_id", "int(11) unsigned"),
            _c("click_id", BIG_UINT),
            _c("click_time", UINT),
            _c("position", "smallint(5) unsigned", default="0"),
            _c("created_at", UINT),
        ),
        primary_key=("touchpoint_id",),
        keys=(Key("conv_id", ("conv_id",)), Key("click_lookup", ("click_id",))),
        written_by_project=True,
    ),
    Table(
        "202_attribution_models",
        (
            _c("model_id", BIG_UINT, auto_increment=True),
            _c("user_id", MEDIUM_UINT),
            _c("model_name", "varchar(255)"),
            _c("model_slug", "varchar(191)"),
            _c("model_type", "varchar(50)"),
            _c("weighting_config", "longtext", nullable=True),
            _c("is_active", "tinyint(1)", default="1"),
            _c("is_default", "tinyint(1)", default="0"),
            _c("created_at", UINT),
            _c("updated_at", UINT),
        ),
        primary_key=("model_id",),
        keys=(
            Key("model_slug_user", ("user_id", "model_slug"), unique=True),
            Key("user_default", ("user_id", "is_default")),
        ),
        written_by_project=True,
    ),
    Table(
        "202_attribution_settings",
        (
            _c("setting_id", BIG_UINT, auto_increment=True),
            _c("user_id", MEDIUM_UINT),
            _c("scope_type", "varchar(50)"),
            _c("scope_id", BIG_UINT, nullable=True),
            _c("model_id", BIG_UINT),
            _c("multi_touch_enabled", "tinyint(1) unsigned", default="1"),
            _c("multi_touch_enabled_at", UINT, nullable=True),
            _c("multi_touch_disabled_at", UINT, nullable=True),
            _c("effective_at", UINT),
            _c("created_at", UINT),
            _c("updated_at", UINT),
        ),
        primary_key=("setting_id",),
        keys=(
            Key("user_scope", ("user_id", "scope_type", "scope_id"), unique=True),
            Key("user_scope_model", ("user_id", "scope_type", "scope_id", "model_id"), unique=True),
            Key(
                "user_scope_multi_touch",
                ("user_id", "scope_type", "scope_id", "multi_touch_enabled"),
                unique=True,
            ),
            Key("model_lookup", ("model_id",)),
        ),
        written_by_project=True,
    ),
    Table(
        "202_attribution_snapshots",
        (
            _c("snapshot_id", BIG_UINT, auto_increment=True),
            _c("model_id", BIG_UINT),
            _c("user_id", MEDIUM_UINT),
            _c("scope_type", "varchar(50)"),
            _c("scope_id", BIG_UINT, nullable=True),
            _c("date_hour", UINT),
            _c("lookback_start", UINT),
            _c("lookback_end", UINT),
            _c("attributed_clicks", UINT, default="0"),
            _c("attributed_conversions", UINT, default="0"),
            _c("attributed_revenue", "decimal(12,4)", default="0.0000"),
            _c("attributed_cost", "decimal(12,4)", default="0.0000"),
            _c("created_at", UINT),
        ),
        primary_key=("snapshot_id",),
        keys=(
            Key("model_hour_scope", ("model_id", "date_hour", "scope_type", "scope_id")),
            Key("user_hour", ("user_id", "date_hour")),
        ),
        written_by_project=True,
    ),
    Table(
        "202_attribution_touchpoints",
        (
            _c("touchpoint_id", BIG_UINT, auto_increment=True),
            _c("snapshot_id", BIG_UINT),
            _c("conv_id", "int(11) unsigned"),
            _c("click_id", BIG_UINT),
            _c("position", "smallint(5) unsigned", default="0"),
            _c("credit", "decimal(10,5)", default="0.00000"),
            _c("weight", "decimal(10,5)", default="0.00000"),
            _c("created_at", UINT),
        ),
        primary_key=("touchpoint_id",),
        keys=(Key("snapshot_conv", ("snapshot_id", "conv_id")), Key("click_lookup", ("click_id",))),
        written_by_project=True,
    ),
    Table(
        "202_attribution_audit",
        (
            _c("audit_id", BIG_UINT, auto_increment=True),
            _c("user_id", MEDIUM_UINT),
            _c("model_id", BIG_UINT, nullable=True),
            _c("action", "varchar(50)"),
            _c("metadata", "longtext", nullable=True),
            _c("created_at", UINT),
        ),
        primary_key=("audit_id",),
        keys=(
            Key("user_lookup", ("user_id",)),
            Key("model_lookup", ("model_id",)),
            Key("action_lookup", ("action",)),
        ),
        written_by_project=True,
    ),
    Table(
        "202_attribution_exports",
        (
            _c("export_id", BIG_UINT, auto_increment=True),
            _c("user_id", MEDIUM_UINT),
            _c("model_id", "int(11) unsigned"),
            _c("scope_type", "varchar(32)"),
            _c("scope_id", BIG_UINT, nullable=True),
            _c("start_hour", UINT),
            _c("end_hour", UINT),
            _c("requested_format", "varchar(16)", default="'csv'"),
            _c("status", "varchar(20)", default="'pending'"),
            _c("options", "longtext", nullable=True),
            _c("webhook_url", "varchar(500)", nullable=True),
            _c("webhook_secret", "varchar(255)", nullable=True),
            _c("webhook_headers", "text", nullable=True),
            _c("file_path", "varchar(500)", nullable=True),
            _c("rows_exported", UINT, nullable=True),
            _c("queued_at", UINT),
            _c("started_at", UINT, nullable=True),
            _c("completed_at", UINT, nullable=True),
            _c("failed_at", UINT, nullable=True),
            _c("last_error", "text", nullable=True),
            _c("webhook_attempted_at", UINT, nullable=True),
            _c("webhook_status_code", "int(11)", nullable=True),
            _c("webhook_response_body", "mediumtext", nullable=True),
            _c("created_at", UINT),
            _c("updated_at", UINT),
        ),
        primary_key=("export_id",),
        keys=(
            Key("model_status", ("model_id", "status")),
            Key("user_status", ("user_id", "status")),
            Key("queued_at", ("queued_at",)),
        ),
        written_by_project=True,
    ),
    Table(
        "202_cronjobs",
        (
            _c("cronjob_type", "char(5)"),
            _c("cronjob_time", "int(11)"),
        ),
        keys=(Key("cronjob_type", ("cronjob_type", "cronjob_time")),),
        written_by_project=True,
    ),
    Table(
        "202_cronjob_logs",
        (
            _c("id", UINT, auto_increment=True),
            _c("last_execution_time", UINT),
        ),
        primary_key=("id",),
        written_by_project=True,
    ),
)

TABLES_BY_NAME = {table.name: table for table in TABLES}

# A key Prosper202 does not have, for large installs (`install_schema --recommended-indexes`):
# it turns the journey backfill's candidate reads into one index range per campaign.
CAMPAIGN_TIME_KEY = Key("attribution_campaign_time", ("aff_campaign_id", "click_time"))
RECOMMENDED_KEYS = (("202_clicks", CAMPAIGN_TIME_KEY),)


def _mysql_column(column):
    parts = [f"`{column.name}`", column.mysql_type, "NULL" if column.nullable else "NOT NULL"]
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    elif column.nullable:
        parts.append("DEFAULT NULL")
    if column.auto_increment:
        parts.append("AUTO_INCREMENT")
    return " ".join(parts)


def mysql_create_table(table):
    """Prosper202's CREATE TABLE for MySQL/MariaDB."""
    lines = [_mysql_column(c) for c in table.columns]
    if table.primary_key:
        lines.append("PRIMARY KEY (" + ", ".join(f"`{c}`" for c in table.primary_key) + ")")
    for key in table.keys:
        kind = "UNIQUE KEY" if key.unique else "KEY"
        lines.append(f"{kind} `{key.name}` (" + ", ".join(f"`{c}`" for c in key.columns) + ")")
    body = ",\n  ".join(lines)
    return (
        f"CREATE TABLE IF NOT EXISTS `{table.name}` (\n  {body}\n)"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
    )


def sqlite_type(mysql_type):
    """The SQLite column type equivalent to a MySQL one (affinity preserved)."""
    base = mysql_type.split("(")[0].split()[0]
    if base in ("tinyint", "smallint", "mediumint", "int", "bigint"):
        return "INTEGER"
    if base == "decimal":
        return mysql_type.split()[0].upper()
    if base in ("varchar", "char"):
        return mysql_type.upper()
    return "TEXT"


def sqlite_create_statements(table):
    """CREATE TABLE and CREATE INDEX statements equivalent to the MySQL DDL, for SQLite."""
    lines = []
    single_auto_pk = len(table.primary_key) == 1 and table.column(table.primary_key[0]).auto_increment
    for column in table.columns:
        if single_auto_pk and column.name == table.primary_key[0]:
            lines.append(f'"{column.name}" INTEGER PRIMARY KEY AUTOINCREMENT')
            continue
        definition = f'"{column.name}" {sqlite_type(column.mysql_type)}'
        definition += " NULL" if column.nullable else " NOT NULL"
        if column.default is not None:
            definition += f" DEFAULT {column.default}"
        lines.append(definition)
    if table.primary_key and not single_auto_pk:
        lines.append("PRIMARY KEY (" + ", ".join(f'"{c}"' for c in table.primary_key) + ")")
    statements = [f'CREATE TABLE IF NOT EXISTS "{table.name}" (\n  ' + ",\n  ".join(lines) + "\n)"]
    for key in table.keys:
        # SQLite index names are global; prefix them with the table name.
        kind = "UNIQUE INDEX" if key.unique else "INDEX"
        columns = ", ".join(f'"{c}"' for c in key.columns)
        statements.append(
            f'CREATE {kind} IF NOT EXISTS "{table.name}__{key.name}" ON "{table.name}" ({columns})'
        )
    return statements


def create_statements(vendor):
    """Every statement that creates the 202 tables on a database of this vendor."""
    if vendor == "mysql":
        return [mysql_create_table(table) for table in TABLES]
    if vendor == "sqlite":
        return [statement for table in TABLES for statement in sqlite_create_statements(table)]
    raise ValueError(f"install_schema supports MySQL/MariaDB and SQLite, not {vendor}")


def add_key_statement(vendor, table_name, key):
    """The statement adding `key` to an existing table: online on MySQL/MariaDB (built in place
    while reads and writes go on), a plain CREATE INDEX on SQLite (which has no online DDL)."""
    columns = ", ".join(f"`{c}`" for c in key.columns)
    if vendor == "mysql":
        return f"ALTER TABLE `{table_name}` ADD KEY `{key.name}` ({columns}), ALGORITHM=INPLACE, LOCK=NONE"
    if vendor == "sqlite":
        return (
            f'CREATE INDEX IF NOT EXISTS "{table_name}__{key.name}" ON "{table_name}" ('
            + ", ".join(f'"{c}"' for c in key.columns) + ")"
        )
    raise ValueError(f"install_schema supports MySQL/MariaDB and SQLite, not {vendor}")


def install(connection):
    """Create every missing 202 table; existing tables are left exactly as they are."""
    with connection.cursor() as cursor:
        for statement in create_statements(connection.vendor):
            cursor.execute(statement)
    return len(TABLES)
