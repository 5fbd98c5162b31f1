{#-
    Every action type of every ad insight, count and value side by side. Types overlap (one
    pixel purchase is `omni_purchase`, `purchase` and `offsite_conversion.fb_pixel_purchase`):
    filter on one action type, never sum across them.
-#}
with actions as (

    {{ union_tenant_sources('meta_ads', 'insights__actions', {
        'ad_id': 'bigint',
        'date_start': 'date',
        'action_type': 'varchar',
        'value': 'decimal(18, 6)',
    }) }}

),

action_values as (

    {{ union_tenant_sources('meta_ads', 'insights__action_values', {
        'ad_id': 'bigint',
        'date_start': 'date',
        'action_type': 'varchar',
        'value': money_type(),
    }) }}

)

select
    coalesce(actions.tenant_id, action_values.tenant_id) as tenant_id,
    coalesce(actions.ad_id, action_values.ad_id) as ad_id,
    coalesce(actions.date_start, action_values.date_start) as date_day,
    coalesce(actions.action_type, action_values.action_type) as action_type,
    actions.value as action_count,
    action_values.value as action_value
from actions
full outer join action_values
    on action_values.tenant_id = actions.tenant_id
    and action_values.ad_id = actions.ad_id
    and action_values.date_start = actions.date_start
    and action_values.action_type = actions.action_type
