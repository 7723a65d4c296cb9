{#-
    dbt's relationships test, judged only where the warehouse can judge it: a child row whose parent is
    missing fails once every partition of the parent's topic has drained a change committed after the
    child's (by commit_lsn, which SQL Server numbers across the whole database). Until then the parent may
    simply not be drained yet: a run capped by "Events per run" takes each topic only in part, and
    without a cap the child's topic may be read a moment after the parent's. Those rows wait, out of the
    marts (which join children to their product), and the next run that drains past them judges them.
    A parent missing although its topic was drained past the child is an error: a lost change. Rows
    deleted at the source are not judged: a re-snapshot of the parent (a recreated topic) brings back
    only the live parents, and the deleted child needs none.
    Kafka keeps each partition in commit order, so a partition drained to an LSN beyond the child's
    holds every parent change committed before the child.
-#}
{% test relationships_as_drained(model, column_name, to, field) %}
with parent_partitions as (
    select max(commit_lsn) as newest_commit_lsn
    from {{ to }}
    group by kafka_partition
),

parent_drained_past as (
    select min(newest_commit_lsn) as commit_lsn
    from parent_partitions
)

select
    child.{{ column_name }} as missing_parent,
    child.commit_lsn
from {{ model }} as child
cross join parent_drained_past
where
    child.{{ column_name }} is not null
    and not child.deleted
    and child.commit_lsn < parent_drained_past.commit_lsn
    and not exists (
        select 1 from {{ to }} as parent
        where parent.{{ field }} = child.{{ column_name }}
    )
{% endtest %}
