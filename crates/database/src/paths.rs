//! The database engine's paths, declared once on the path framework: patterns, fields (with
//! Vault's types), operations, existence checks and help. Routing, field decoding, the
//! ignored-parameters warning and the OpenAPI document all come from here.

use strongroom_logical::{
    Context, Endpoint, Endpoints, Field, FieldType, Fields, Response, Result,
};
use strongroom_storage::Storage as _;

use crate::{Database, check_name, statics};

const HELP: &str = "The database backend supports using many different databases as secret \
                    backends (PostgreSQL and MySQL/MariaDB here), including but not limited \
                    to dynamic users with leases and static users whose passwords it rotates.";

fn connection_name() -> Field {
    Field::new(FieldType::String, "Name of this database connection")
}

fn role_name() -> Field {
    Field::new(FieldType::String, "Name of the role.")
}

fn statements(what: &str) -> Field {
    Field::new(FieldType::StringSlice, what)
}

/// Every database endpoint, in routing order (first match wins).
pub(crate) fn declarations() -> Endpoints<Database> {
    type E = Endpoint<Database>;
    Endpoints::new(
        HELP,
        vec![
            E::new("config/?")
                .list(|db, ctx, _| Box::pin(db.list(ctx, "config/")))
                .synopsis("Configure connection details to a database plugin.")
                .description("This path lists the configured database connections."),
            E::new("config/{name}")
                .field("name", connection_name())
                .field(
                    "plugin_name",
                    Field::new(
                        FieldType::String,
                        "The name of a builtin or previously registered plugin known to \
                         OpenBao: postgresql-database-plugin or mysql-database-plugin here.",
                    ),
                )
                .field(
                    "connection_url",
                    Field::new(
                        FieldType::String,
                        "The connection string, with {{username}} and {{password}} templates \
                         for the credentials.",
                    ),
                )
                .field(
                    "username",
                    Field::new(FieldType::String, "The root credential's username."),
                )
                .field(
                    "password",
                    Field::new(
                        FieldType::SecretString,
                        "The root credential's password (never read back).",
                    ),
                )
                .field(
                    "verify_connection",
                    Field::new(
                        FieldType::Bool,
                        "If true, the connection details are verified by actually connecting \
                         to the database. Defaults to true.",
                    )
                    .default(true),
                )
                .field(
                    "allowed_roles",
                    Field::new(
                        FieldType::CommaStringSlice,
                        "Comma separated string or array of the role names allowed to get \
                         creds from this database connection. If empty no roles are allowed. \
                         If \"*\" all roles are allowed.",
                    ),
                )
                .field(
                    "root_rotation_statements",
                    statements(
                        "Specifies the database statements to be executed to rotate the root \
                         user's credentials. See the plugin's API page for more information on \
                         support and formatting for this parameter.",
                    ),
                )
                .field(
                    "password_length",
                    Field::new(
                        FieldType::Int,
                        "The length of generated passwords, 20 to 128 (default 24).",
                    ),
                )
                .field(
                    "username_template",
                    Field::new(
                        FieldType::String,
                        "Template describing how dynamic usernames are generated.",
                    ),
                )
                .read(|db, ctx, f| Box::pin(db.read_config(ctx, f)))
                .write(|db, ctx, f| Box::pin(db.write_config(ctx, f)))
                .delete(|db, ctx, f| Box::pin(db.delete_config(ctx, f)))
                .exists(|db, ctx, f| Box::pin(db.entry_exists(ctx, f, "config/")))
                .synopsis("Configure connection details to a database plugin.")
                .description(
                    "This path configures the connection details used to connect to a \
                     particular database. The password is never returned.",
                ),
            E::new("reset/{name}")
                .field("name", connection_name())
                .write(|db, _, f| Box::pin(db.reset(f)))
                .synopsis("Resets a database plugin.")
                .description(
                    "This path resets the database connection by closing the existing \
                     connection (connections are opened per operation here: nothing to close).",
                ),
            E::new("rotate-root/{name}")
                .field("name", connection_name())
                .write(|db, ctx, f| Box::pin(db.rotate_root(ctx, f)))
                .synopsis(
                    "Request to rotate the root credentials for a certain database connection.",
                )
                .description(
                    "This path attempts to rotate the root credentials for the given database. \
                     Afterwards only the engine knows the password.",
                ),
            E::new("roles/?")
                .list(|db, ctx, _| Box::pin(db.list(ctx, "roles/")))
                .synopsis("Manage the roles that can be created with this backend.")
                .description("This path lists the configured roles."),
            E::new("roles/{name}")
                .field("name", role_name())
                .field(
                    "db_name",
                    Field::new(FieldType::String, "Name of the database this role acts on."),
                )
                .field(
                    "creation_statements",
                    statements(
                        "Specifies the database statements executed to create and configure a \
                         user. See the plugin's API page for more information on support and \
                         formatting for this parameter.",
                    ),
                )
                .field(
                    "revocation_statements",
                    statements(
                        "Specifies the database statements to be executed to revoke a user. \
                         See the plugin's API page for more information on support and \
                         formatting for this parameter.",
                    ),
                )
                .field(
                    "renew_statements",
                    statements(
                        "Specifies the database statements to be executed to renew a user. Not \
                         every plugin type will support this functionality. See the plugin's \
                         API page for more information on support and formatting for this \
                         parameter.",
                    ),
                )
                .field(
                    "rollback_statements",
                    statements(
                        "Specifies the database statements to be executed rollback a create \
                         operation in the event of an error. Not every plugin type will \
                         support this functionality. See the plugin's API page for more \
                         information on support and formatting for this parameter.",
                    ),
                )
                .field(
                    "default_ttl",
                    Field::new(FieldType::DurationSecond, "Default ttl for role."),
                )
                .field(
                    "max_ttl",
                    Field::new(
                        FieldType::DurationSecond,
                        "Maximum time a credential is valid for",
                    ),
                )
                .field(
                    "username_template",
                    Field::new(
                        FieldType::String,
                        "Template describing how dynamic usernames are generated (overrides \
                         the connection's).",
                    ),
                )
                .read(|db, ctx, f| Box::pin(db.read_role(ctx, f)))
                .write(|db, ctx, f| Box::pin(db.write_role(ctx, f)))
                .delete(|db, ctx, f| Box::pin(db.delete_role(ctx, f)))
                .exists(|db, ctx, f| Box::pin(db.entry_exists(ctx, f, "roles/")))
                .synopsis("Manage the roles that can be created with this backend.")
                .description(
                    "This path lets you manage the roles that can be created with this \
                     backend: the statements that create, renew, revoke and roll back a \
                     dynamic user, and its lease durations.",
                ),
            E::new("creds/{name}")
                .field("name", role_name())
                .read(|db, ctx, f| Box::pin(db.creds(ctx, f)))
                .synopsis("Request database credentials for a certain role.")
                .description(
                    "This path reads database credentials for a certain role. The database \
                     credentials will be generated on demand and will be automatically revoked \
                     when the lease is up.",
                ),
            E::new("static-roles/?")
                .list(|db, ctx, _| Box::pin(db.list(ctx, statics::ROLES)))
                .synopsis("Manage the static roles that can be created with this backend.")
                .description("This path lists the configured static roles."),
            E::new("static-roles/{name}")
                .field("name", role_name())
                .field(
                    "db_name",
                    Field::new(FieldType::String, "Name of the database this role acts on."),
                )
                .field(
                    "username",
                    Field::new(
                        FieldType::String,
                        "Name of the static user account for OpenBao to manage. Requires \
                         \"rotation_period\" or \"rotation_schedule\" to be specified",
                    ),
                )
                .field(
                    "rotation_period",
                    Field::new(
                        FieldType::DurationSecond,
                        "Period for automatic credential rotation of the given username. Not \
                         valid unless used with \"username\". Mutually exclusive with \
                         \"rotation_schedule\".",
                    ),
                )
                .field(
                    "rotation_schedule",
                    Field::new(
                        FieldType::String,
                        "Schedule for automatic credential rotation of the given username, as \
                         a cron expression. Mutually exclusive with \"rotation_period\".",
                    ),
                )
                .field(
                    "rotation_window",
                    Field::new(
                        FieldType::DurationSecond,
                        "The window of time in which rotations are allowed to occur starting \
                         from a given \"rotation_schedule\". Requires \"rotation_schedule\" to \
                         be specified",
                    ),
                )
                .field(
                    "rotation_statements",
                    statements(
                        "Specifies the database statements to be executed to rotate the \
                         accounts credentials. Not every plugin type will support this \
                         functionality. See the plugin's API page for more information on \
                         support and formatting for this parameter.",
                    ),
                )
                .field(
                    "skip_import_rotation",
                    Field::new(
                        FieldType::Bool,
                        "Skip the initial pre-import password rotation on creation.",
                    ),
                )
                .field(
                    "password",
                    Field::new(
                        FieldType::SecretString,
                        "The user's current password, imported when the role is created with \
                         skip_import_rotation.",
                    ),
                )
                .read(|db, ctx, f| Box::pin(db.read_static_role(ctx, f)))
                .write(|db, ctx, f| Box::pin(db.write_static_role(ctx, f)))
                .delete(|db, ctx, f| Box::pin(db.delete_static_role(ctx, f)))
                .exists(|db, ctx, f| Box::pin(db.entry_exists(ctx, f, statics::ROLES)))
                .synopsis("Manage the static roles that can be created with this backend.")
                .description(
                    "This path lets you manage the static roles: existing database users \
                     whose passwords are rotated on a period or a schedule.",
                ),
            E::new("static-creds/{name}")
                .field("name", role_name())
                .read(|db, ctx, f| Box::pin(db.static_creds(ctx, f)))
                .synopsis("Request database credentials for a certain static role.")
                .description(
                    "This path reads database credentials for a certain static role. The \
                     database credentials are rotated periodically according to their \
                     configuration, or by using the rotate-role path.",
                ),
            E::new("rotate-role/{name}")
                .field("name", role_name())
                .write(|db, ctx, f| Box::pin(db.rotate_role(ctx, f)))
                .synopsis("Request to rotate the credentials for a static user account.")
                .description(
                    "This path attempts to rotate the credentials for the given static role.",
                ),
        ],
    )
}

impl Database {
    /// The existence check of `config/<name>`, `roles/<name>` and `static-roles/<name>`: the
    /// stored entry under `folder`.
    async fn entry_exists(&self, ctx: &Context, fields: Fields<'_>, folder: &str) -> Result<bool> {
        let name: &str = fields.get("name")?;
        if check_name("role", name).is_err() {
            return Ok(false);
        }
        Ok(ctx.storage.get(&format!("{folder}{name}")).await?.is_some())
    }

    async fn delete_config(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        check_name("connection", name)?;
        ctx.storage.delete(&format!("config/{name}")).await?;
        Ok(Response::empty())
    }

    /// `reset/<name>`: connections are opened per operation, so nothing cached to reset.
    async fn reset(&self, fields: Fields<'_>) -> Result<Response> {
        check_name("connection", fields.get("name")?)?;
        Ok(Response::empty())
    }

    async fn delete_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        check_name("role", name)?;
        ctx.storage.delete(&format!("roles/{name}")).await?;
        Ok(Response::empty())
    }

    async fn write_static_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let scheduler = self.scheduler(ctx).await?;
        statics::write_role(ctx, scheduler, &fields).await
    }

    async fn read_static_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let scheduler = self.scheduler(ctx).await?;
        statics::read_role(ctx, scheduler, fields.get("name")?).await
    }

    async fn delete_static_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let scheduler = self.scheduler(ctx).await?;
        let name: &str = fields.get("name")?;
        check_name("role", name)?;
        statics::forget(ctx, scheduler, name).await?;
        Ok(Response::empty())
    }

    async fn static_creds(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        statics::creds(ctx, self.scheduler(ctx).await?, fields.get("name")?).await
    }

    async fn rotate_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        statics::rotate(ctx, self.scheduler(ctx).await?, fields.get("name")?).await
    }
}
