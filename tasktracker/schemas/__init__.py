"""marshmallow schemas: the one definition of every input rule and every representation.

Services load input through these (`load_body`, `load_query`); the API dumps with them and
flask-smorest turns them into the OpenAPI document. By subject: `fields` (text, tag names,
emails, numbers, times), `base` (loading, paging, the error shape), `tasks`, `jobs`,
`accounts`; every schema is importable from here.
"""

from tasktracker.schemas.accounts import (
    NewTokenSchema,
    PasswordChangeSchema,
    PasswordResetSchema,
    RegistrationSchema,
    TokenFormSchema,
    TokenRequestSchema,
    TokenSchema,
    UserSchema,
)
from tasktracker.schemas.base import (
    ErrorSchema,
    InputSchema,
    PaginationQuerySchema,
    load_body,
    load_query,
    page_schema,
    path_for,
)
from tasktracker.schemas.fields import EmailAddress, Str, TagName, Timestamp, WholeNumber
from tasktracker.schemas.jobs import JobPageSchema, JobSchema
from tasktracker.schemas.tasks import (
    MAX_TAGS_PER_TASK,
    MAX_TASKS_PER_BULK,
    READ_ONLY_TASK_FIELDS,
    SORT_KEYS,
    EventPageSchema,
    EventSchema,
    TagCountSchema,
    TaskBulkSchema,
    TaskBulkWriteSchema,
    TaskFormSchema,
    TaskListQuerySchema,
    TaskPageSchema,
    TaskPatchSchema,
    TaskSchema,
    TaskWriteSchema,
)

__all__ = [
    "MAX_TAGS_PER_TASK",
    "MAX_TASKS_PER_BULK",
    "READ_ONLY_TASK_FIELDS",
    "SORT_KEYS",
    "EmailAddress",
    "ErrorSchema",
    "EventPageSchema",
    "EventSchema",
    "InputSchema",
    "JobPageSchema",
    "JobSchema",
    "NewTokenSchema",
    "PaginationQuerySchema",
    "PasswordChangeSchema",
    "PasswordResetSchema",
    "RegistrationSchema",
    "Str",
    "TagCountSchema",
    "TagName",
    "TaskBulkSchema",
    "TaskBulkWriteSchema",
    "TaskFormSchema",
    "TaskListQuerySchema",
    "TaskPageSchema",
    "TaskPatchSchema",
    "TaskSchema",
    "TaskWriteSchema",
    "Timestamp",
    "TokenFormSchema",
    "TokenRequestSchema",
    "TokenSchema",
    "UserSchema",
    "WholeNumber",
    "load_body",
    "load_query",
    "page_schema",
    "path_for",
]
