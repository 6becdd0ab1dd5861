use super::*;

#[test]
fn durations() {
    assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
    assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
    assert!(parse_duration("soon").is_err());
    assert!(parse_duration("3 parsecs").is_err());
}

#[test]
fn line_numbers() {
    assert_eq!(line_of("a = 1\nb = 2\n", 7), 2);
    assert_eq!(line_of("a", 0), 1);
}
