{#-
    Attribution compared across models, one row per tenant × day × attribution model ×
    channel × platform × campaign: the orders (sums of credits) and revenue each model credits
    to the touchpoints of a channel, platform and campaign, next to the campaign's spend and
    impressions, with ROAS, CPA and RPMo per model (macros/metrics.sql).

    - Every model has a row for every channel/campaign-day any model credits or any campaign
      spends on (0 where a model gives it nothing), so models compare row by row, and the
      columns attributed_revenue_min_across_models / _max_across_models (the same on the six
      rows of a channel/campaign-day) show how much the answer depends on the model: the
      uncertainty of attribution itself.
    - platform is the touchpoint's platform (seed channel_mapping), or the platform of the
      campaign its utm_campaign named when the seed gave none; "(none)" when neither is known.
      campaign_id is the campaign the touch's utm_campaign matched, "(none)" when none did.
    - A campaign's spend and impressions sit on the rows of the paid channel of its platform
      (macro paid_channel_of_platforms), once per model, so per model the spend sums to the
      ad platforms' spend; touches of other channels that named the campaign have rows of
      their own, without spend.
    - Attributed orders and revenue count on the order's day, spend on the ad account's day.
      Orders without an eligible touchpoint are not here (mart_reconciliation_daily shows
      coverage).

    Money as in mart_kpis_daily: summed per original currency, converted once, rounded
    half-even at this grain (attributed revenue is already exact per touch). Incremental by
    tenant; stored ordered by (tenant_id, date_day).
-#}
with tenants as (

    select tenant_id, reporting_currency, attribution_model
    from {{ ref('stg_registry__tenants') }}

),

paid_channels as (

    {{ paid_channel_of_platforms() }}

),

campaigns as (

    select tenant_id, platform, campaign_id, campaign_name
    from {{ ref('dim_campaigns') }}
    where {{ tenant_filter_for(ref('dim_campaigns')) }}

),

credit_days as (

    select
        tenant_id,
        order_date as date_day,
        attribution_model,
        channel,
        coalesce(platform, campaign_platform, '(none)') as platform,
        coalesce(campaign_id, '(none)') as campaign_id,
        sum(credit) as attributed_orders,
        sum(attributed_revenue) as attributed_revenue
    from {{ ref('fct_attribution_credits') }}
    where {{ tenant_filter_for(ref('fct_attribution_credits')) }}
        and is_attributed
    group by all

),

ad_currency_days as (

    select
        tenant_id,
        date_day,
        platform,
        campaign_id,
        currency_code,
        any_value(fx_rate_to_reporting_currency) as fx_rate,
        sum(spend) as spend,
        sum(impressions) as impressions
    from {{ ref('fct_ad_performance_daily') }}
    where {{ tenant_filter_for(ref('fct_ad_performance_daily')) }}
    group by tenant_id, date_day, platform, campaign_id, currency_code

),

ad_days as (

    select
        ad_currency_days.tenant_id,
        ad_currency_days.date_day,
        coalesce(paid_channels.channel, 'other') as channel,
        ad_currency_days.platform,
        ad_currency_days.campaign_id,
        sum({{ apply_fx_rate('ad_currency_days.spend', 'ad_currency_days.fx_rate') }}) as spend,
        sum(ad_currency_days.impressions) as impressions
    from ad_currency_days
    left join paid_channels on paid_channels.platform = ad_currency_days.platform
    group by all

),

channel_campaign_days as (

    select distinct tenant_id, date_day, channel, platform, campaign_id from credit_days
    union
    select tenant_id, date_day, channel, platform, campaign_id from ad_days

),

grid as (

    select
        channel_campaign_days.*,
        unnest({{ attribution_models() }}) as attribution_model
    from channel_campaign_days

),

rounded as (

    select
        grid.tenant_id,
        grid.date_day,
        grid.attribution_model,
        grid.channel,
        grid.platform,
        grid.campaign_id,
        campaigns.campaign_name,
        grid.attribution_model = tenants.attribution_model as is_default_model,
        tenants.reporting_currency,
        {{ round_money('coalesce(ad_days.spend, 0)', 'tenants.reporting_currency') }} as spend,
        cast(coalesce(ad_days.impressions, 0) as bigint) as impressions,
        cast(coalesce(credit_days.attributed_orders, 0) as {{ attributed_orders_type() }})
            as attributed_orders,
        {{ round_money('coalesce(credit_days.attributed_revenue, 0)', 'tenants.reporting_currency') }}
            as attributed_revenue
    from grid
    inner join tenants on tenants.tenant_id = grid.tenant_id
    left join credit_days
        on credit_days.tenant_id = grid.tenant_id
        and credit_days.date_day = grid.date_day
        and credit_days.attribution_model = grid.attribution_model
        and credit_days.channel = grid.channel
        and credit_days.platform = grid.platform
        and credit_days.campaign_id = grid.campaign_id
    left join ad_days
        on ad_days.tenant_id = grid.tenant_id
        and ad_days.date_day = grid.date_day
        and ad_days.channel = grid.channel
        and ad_days.platform = grid.platform
        and ad_days.campaign_id = grid.campaign_id
    left join campaigns
        on campaigns.tenant_id = grid.tenant_id
        and campaigns.platform = grid.platform
        and campaigns.campaign_id = grid.campaign_id

)

select
    *,
    {{ roas('attributed_revenue', 'spend') }} as roas,
    {{ cpa('spend', 'attributed_orders') }} as cpa,
    {{ rpmo('attributed_revenue', 'impressions') }} as rpmo,
    min(attributed_revenue) over channel_campaign_day as attributed_revenue_min_across_models,
    max(attributed_revenue) over channel_campaign_day as attributed_revenue_max_across_models
from rounded
window channel_campaign_day as (
    partition by tenant_id, date_day, channel, platform, campaign_id
)
order by tenant_id, date_day, attribution_model, channel, platform, campaign_id
