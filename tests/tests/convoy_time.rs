//! Time a convoy can trust (issue 22), in process with per-device clocks:
//! phones whose clocks are minutes, hours, a day or decades wrong file
//! their hand-outs on the convoy's day and are reported once each; an
//! evening across midnight is one day, across both 2026 daylight-saving
//! changes too; a phone once a day fast stamps its next record with today.

use qafila_app::stock::{Movement, StockRequest};
use qafila_domain::event::EventBody;
use qafila_e2e::inprocess::{Dev, NOW, SITE, convoy};
use qafila_proto::cert::CertRole;
use qafila_testkit::relay::MemoryRelay;

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
/// 2000-01-01 08:00 UTC: a phone whose battery died.
const Y2000: u64 = 946_713_600_000;
/// 2030-06-01 00:00 UTC.
const Y2030: u64 = 1_906_502_400_000;

fn load(lead: &Dev, qty: &str) {
    lead.app
        .stock(
            Movement::Load,
            StockRequest {
                site: SITE.into(),
                item: "food_box".into(),
                qty: qty.into(),
                waybill: Some("WB-1".into()),
                ..StockRequest::default()
            },
        )
        .unwrap();
}

fn families(lead: &Dev, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| lead.register(&format!("أسرة رقم {}", i + 1), None))
        .collect()
}

/// A convoy with one volunteer phone and `n` registered families, all
/// synced at [`NOW`].
fn one_phone(n: usize) -> (MemoryRelay, Dev, Dev, Vec<String>) {
    let relay = MemoryRelay::new("memory://central");
    let (lead, mut phones) = convoy(&relay, &[CertRole::Volunteer]);
    let people = families(&lead, n);
    lead.synced(&relay);
    let phone = phones.remove(0);
    phone.synced(&relay);
    (relay, lead, phone, people)
}

fn clock_wrong(dev: &Dev) -> Vec<String> {
    dev.app
        .anomalies()
        .unwrap()
        .into_iter()
        .filter(|a| a.code == "clock_wrong")
        .map(|a| a.message)
        .collect()
}

fn food_boxes(dev: &Dev, date: &str) -> String {
    dev.app
        .day_status(SITE, Some(date))
        .unwrap()
        .items
        .into_iter()
        .find(|i| i.item == "food_box")
        .map_or_else(|| "0".into(), |i| i.handed_out)
}

#[test]
fn phones_with_wrong_clocks_file_hand_outs_on_the_convoys_day_and_are_reported_once() {
    let relay = MemoryRelay::new("memory://central");
    let clocks = [
        ("+15 min", NOW + 15 * MINUTE),
        ("-2 h", NOW - 2 * HOUR),
        ("+1 day", NOW + DAY),
        ("2000-01-01", Y2000),
        ("2030-06-01", Y2030),
    ];
    let (lead, phones) = convoy(&relay, &[CertRole::Volunteer; 5]);
    let people = families(&lead, 5);
    load(&lead, "20");
    lead.synced(&relay);
    for ((label, clock), (phone, family)) in clocks.iter().zip(phones.iter().zip(&people)) {
        phone.set_clock(*clock, NOW);
        // Its background sync learns the relay's time...
        phone.synced(&relay);
        // ...and it serves with it, twice over, noting its clock once.
        phone
            .app
            .check_in(family, SITE, None, Some("no card".into()))
            .unwrap();
        phone.try_hand_out(family, None).unwrap();
        phone.synced(&relay);
        let own: Vec<String> = clock_wrong(phone)
            .into_iter()
            .filter(|m| m.contains(&phone.name))
            .collect();
        assert_eq!(own.len(), 1, "{label}: {own:#?}");
    }
    lead.synced(&relay);

    // Every hand-out is on the convoy's day at the lead: none on the
    // phones' own dates, and the stock adds up.
    assert_eq!(lead.handed_out(), "5");
    for wrong in ["2000-01-01", "2026-12-02", "2026-11-30", "2030-06-01"] {
        assert_eq!(food_boxes(&lead, wrong), "0", "{wrong}");
    }
    let status = lead.app.day_status(SITE, None).unwrap();
    let line = status.items.iter().find(|i| i.item == "food_box").unwrap();
    assert_eq!((line.opening.as_str(), line.expected.as_str()), ("0", "15"));
    // Nobody was served without a check-in: the check-ins are on that day too.
    assert!(
        !status
            .anomalies
            .iter()
            .any(|a| a.code == "hand_out_without_check_in")
    );
    // One clock anomaly per phone, each naming the phone and the error.
    let reported = clock_wrong(&lead);
    assert_eq!(reported.len(), 5, "{reported:#?}");
    for phone in &phones {
        assert_eq!(
            reported.iter().filter(|m| m.contains(&phone.name)).count(),
            1,
            "{}: {reported:#?}",
            phone.name
        );
    }
    assert!(
        reported.iter().any(|m| m.contains("15 min ahead")),
        "{reported:#?}"
    );
    assert!(
        reported.iter().any(|m| m.contains("2 h behind")),
        "{reported:#?}"
    );
    assert!(
        reported.iter().any(|m| m.contains("1 d ahead")),
        "{reported:#?}"
    );
    // Every record carries the relay's time, not the phone's.
    for event in lead.store().events().unwrap() {
        if matches!(event.body, EventBody::HandOut(_) | EventBody::CheckIn(_)) {
            assert!(
                event.at.wall_ms().abs_diff(NOW) < 5 * MINUTE,
                "{:?} stamped {:?}",
                event.body,
                event.at
            );
        }
    }
}

#[test]
fn a_phone_once_a_day_fast_stamps_its_next_record_with_today() {
    let (relay, lead, phone, people) = one_phone(2);
    let phone = &phone;
    // Offline, a day fast, with nothing to tell it so: it records tomorrow.
    phone.set_clock(NOW + 8 * DAY, NOW);
    let fast = phone.try_hand_out(&people[0], None).unwrap();
    let stamp = |id: &str| {
        phone
            .store()
            .event(id.parse().unwrap())
            .unwrap()
            .unwrap()
            .at
            .wall_ms()
    };
    assert_eq!(stamp(&fast), NOW + 8 * DAY);
    // Its clock is set right again: the next record is today's, not a
    // successor of the future stamp.
    phone.set_clock(NOW + MINUTE, NOW + MINUTE);
    phone.synced(&relay);
    let right = phone.try_hand_out(&people[1], None).unwrap();
    assert_eq!(stamp(&right), NOW + MINUTE);
    // The lead takes the future-stamped record in, flagged, without
    // adopting its time: its own next record is today's.
    phone.synced(&relay);
    let received = lead.synced(&relay);
    assert_eq!(received.applied.future_stamps, 1, "{received:?}");
    let review = lead.app.open_day(SITE, None, "").unwrap();
    let at = lead
        .store()
        .event(review.event.parse().unwrap())
        .unwrap()
        .unwrap()
        .at
        .wall_ms();
    assert!(
        at < NOW + 10 * MINUTE,
        "the lead's clock was dragged to {at}"
    );
}

#[test]
fn a_battery_reset_keeps_filing_on_the_day_it_was_serving() {
    let (relay, lead, phone, people) = one_phone(3);
    let phone = &phone;
    phone.try_hand_out(&people[0], None).unwrap();
    // The battery dies in the village; the clock comes back at 2000, with
    // no network to ask.
    phone.set_clock(Y2000, NOW);
    phone.try_hand_out(&people[1], None).unwrap();
    phone.set_clock(Y2000 + HOUR, NOW + HOUR);
    phone.try_hand_out(&people[2], None).unwrap();
    assert_eq!(phone.handed_out(), "3");
    assert_eq!(food_boxes(phone, "2000-01-01"), "0");
    assert_eq!(clock_wrong(phone).len(), 1, "one episode");
    phone.synced(&relay);
    lead.synced(&relay);
    assert_eq!(lead.handed_out(), "3");
    let reported = clock_wrong(&lead);
    assert_eq!(reported.len(), 1, "{reported:#?}");
    assert!(reported[0].contains("went backwards"), "{reported:#?}");
}

/// Cairo in winter is UTC+2: 23:58 there on 2026-12-01.
const LATE: u64 = 1_796_162_280_000;

#[test]
fn an_evening_across_midnight_is_one_day() {
    let relay = MemoryRelay::new("memory://central");
    let (lead, phones) = convoy(&relay, &[CertRole::Volunteer]);
    let people = families(&lead, 1);
    load(&lead, "5");
    lead.synced(&relay);
    let phone = &phones[0];
    phone.synced(&relay);
    phone.set_clock(LATE, LATE);
    phone
        .app
        .check_in(&people[0], SITE, None, Some("no card".into()))
        .unwrap();
    // Three minutes later it is 00:01 on the 2nd in Cairo.
    phone.set_clock(LATE + 3 * MINUTE, LATE + 3 * MINUTE);
    phone.try_hand_out(&people[0], None).unwrap();
    phone.synced(&relay);
    // At 01:30 the lead's commands still mean the evening's day.
    lead.set_clock(LATE + 92 * MINUTE, LATE + 92 * MINUTE);
    lead.synced(&relay);
    let status = lead.app.day_status(SITE, None).unwrap();
    assert_eq!(status.date, "2026-12-01");
    assert_eq!(lead.handed_out(), "1");
    assert!(
        !status
            .anomalies
            .iter()
            .any(|a| a.code == "hand_out_without_check_in"),
        "{:#?}",
        status.anomalies
    );
    // After the day's end (04:00), the new day begins.
    lead.set_clock(LATE + 4 * HOUR + 3 * MINUTE, LATE + 4 * HOUR + 3 * MINUTE);
    assert_eq!(lead.app.day_status(SITE, None).unwrap().date, "2026-12-02");
}

/// 2026-04-23 23:30 in Cairo (UTC+2); half an hour later clocks jump to
/// 01:00 on the 24th.
const SPRING: u64 = 1_776_979_800_000;
/// 2026-10-29 23:40 in Cairo, summer time (UTC+3); an hour later it is
/// 23:40 again, winter time.
const AUTUMN: u64 = 1_793_306_400_000;

#[test]
fn both_2026_daylight_saving_changes_keep_an_evening_whole() {
    for (start, dates) in [
        (SPRING, ["2026-04-23", "2026-04-24"]),
        (AUTUMN, ["2026-10-29", "2026-10-30"]),
    ] {
        let relay = MemoryRelay::new("memory://central");
        let (lead, phones) = convoy(&relay, &[CertRole::Volunteer]);
        let people = families(&lead, 3);
        lead.synced(&relay);
        let phone = &phones[0];
        phone.synced(&relay);
        // Before the change, across it, and well after it: one evening.
        for (i, later) in [0, HOUR, 3 * HOUR].into_iter().enumerate() {
            // (Each sync tells the phone the relay agrees with its clock.)
            phone.set_clock(start + later, start + later);
            phone.synced(&relay);
            phone.try_hand_out(&people[i], None).unwrap();
        }
        phone.synced(&relay);
        lead.set_clock(start + 3 * HOUR, start + 3 * HOUR);
        lead.synced(&relay);
        assert_eq!(food_boxes(&lead, dates[0]), "3", "{dates:?}");
        assert_eq!(food_boxes(&lead, dates[1]), "0", "{dates:?}");
    }
}

#[test]
fn date_arguments_take_eastern_arabic_digits() {
    let relay = MemoryRelay::new("memory://central");
    let (lead, _) = convoy(&relay, &[]);
    let status = lead.app.day_status(SITE, Some("٢٠٢٦-١٢-٠١")).unwrap();
    assert_eq!(status.date, "2026-12-01");
}

#[test]
fn an_open_site_day_holds_records_past_the_days_end_and_through_a_wrong_clock() {
    let relay = MemoryRelay::new("memory://central");
    let (lead, phones) = convoy(&relay, &[CertRole::Volunteer, CertRole::Volunteer]);
    let people = families(&lead, 4);
    load(&lead, "10");
    // Evening of the 1st, 22:00 in Cairo: the lead opens the site's day.
    let evening = LATE - 118 * MINUTE;
    lead.set_clock(evening, evening);
    let opened = lead
        .app
        .open_day(SITE, None, "دير مواس — اليوم الأول")
        .unwrap();
    assert_eq!(opened.kind, "site_day_opened");
    lead.synced(&relay);
    let [late, reset] = [&phones[0], &phones[1]];
    for phone in [late, reset] {
        phone.set_clock(evening, evening);
        phone.synced(&relay);
    }
    // The distribution runs past the day's end (04:00): 05:30 on the 2nd.
    let dawn = evening + 7 * HOUR + 30 * MINUTE;
    late.set_clock(dawn, dawn);
    late.synced(&relay);
    late.try_hand_out(&people[0], None).unwrap();
    // A phone reset to 2000 with nothing else to go by files on the open
    // day too (and says its clock is wrong).
    reset.set_clock(Y2000, dawn);
    reset.try_hand_out(&people[1], None).unwrap();
    for phone in [late, reset] {
        phone.synced(&relay);
    }
    lead.set_clock(dawn, dawn);
    lead.synced(&relay);
    // The lead's commands are about the open day, which is named.
    let status = lead.app.day_status(SITE, None).unwrap();
    assert_eq!(status.date, "2026-12-01");
    assert_eq!(status.opened.as_deref(), Some("دير مواس — اليوم الأول"));
    assert_eq!(lead.handed_out(), "2");
    assert_eq!(food_boxes(&lead, "2026-12-02"), "0");
    // Without an open day, 05:30 is the 2nd.
    let other = lead.app.day_status("قرية تانية", None).unwrap();
    assert_eq!((other.date.as_str(), other.opened), ("2026-12-02", None));
}
