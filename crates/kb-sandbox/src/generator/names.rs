//! Czech people's names and how banks print them: first names and surnames in their male and
//! female forms (with diacritics), the forms a bank statement shows (`NOVÁK JAN`, `Ing. Jan
//! Novák`, …), and [`ascii_fold`] for banks that strip diacritics from messages.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::chance::pick;

const MALE_FIRST: [&str; 16] = [
    "Jan",
    "Petr",
    "Jiří",
    "Tomáš",
    "Martin",
    "Pavel",
    "Jakub",
    "Lukáš",
    "Ondřej",
    "Vojtěch",
    "Matěj",
    "Michal",
    "David",
    "Filip",
    "Štěpán",
    "Radek",
];
const FEMALE_FIRST: [&str; 16] = [
    "Jana",
    "Petra",
    "Lucie",
    "Kateřina",
    "Tereza",
    "Eva",
    "Markéta",
    "Veronika",
    "Barbora",
    "Anna",
    "Eliška",
    "Adéla",
    "Klára",
    "Zuzana",
    "Šárka",
    "Michaela",
];
/// (male, female) surname forms.
pub(super) const SURNAMES: [(&str, &str); 32] = [
    ("Novák", "Nováková"),
    ("Svoboda", "Svobodová"),
    ("Novotný", "Novotná"),
    ("Dvořák", "Dvořáková"),
    ("Černý", "Černá"),
    ("Procházka", "Procházková"),
    ("Kučera", "Kučerová"),
    ("Veselý", "Veselá"),
    ("Horák", "Horáková"),
    ("Němec", "Němcová"),
    ("Marek", "Marková"),
    ("Pospíšil", "Pospíšilová"),
    ("Pokorný", "Pokorná"),
    ("Hájek", "Hájková"),
    ("Král", "Králová"),
    ("Jelínek", "Jelínková"),
    ("Růžička", "Růžičková"),
    ("Beneš", "Benešová"),
    ("Fiala", "Fialová"),
    ("Sedláček", "Sedláčková"),
    ("Doležal", "Doležalová"),
    ("Zeman", "Zemanová"),
    ("Kolář", "Kolářová"),
    ("Navrátil", "Navrátilová"),
    ("Čermák", "Čermáková"),
    ("Urban", "Urbanová"),
    ("Vaněk", "Vaňková"),
    ("Blažek", "Blažková"),
    ("Kříž", "Křížová"),
    ("Kovář", "Kovářová"),
    ("Štěpánek", "Štěpánková"),
    ("Říha", "Říhová"),
];

/// Replaces Czech diacritics (some banks strip them from payment messages).
pub(super) fn ascii_fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' => 'a',
            'č' => 'c',
            'ď' => 'd',
            'é' | 'ě' => 'e',
            'í' => 'i',
            'ň' => 'n',
            'ó' => 'o',
            'ř' => 'r',
            'š' => 's',
            'ť' => 't',
            'ú' | 'ů' => 'u',
            'ý' => 'y',
            'ž' => 'z',
            'Á' => 'A',
            'Č' => 'C',
            'Ď' => 'D',
            'É' | 'Ě' => 'E',
            'Í' => 'I',
            'Ň' => 'N',
            'Ó' => 'O',
            'Ř' => 'R',
            'Š' => 'S',
            'Ť' => 'T',
            'Ú' | 'Ů' => 'U',
            'Ý' => 'Y',
            'Ž' => 'Z',
            '–' => '-',
            other => other,
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Person {
    pub(super) first: &'static str,
    pub(super) surname: &'static str,
}

impl Person {
    pub(super) fn random(rng: &mut ChaCha8Rng, female: bool) -> Self {
        let surname = pick(rng, &SURNAMES);
        Self::with_surname(rng, female, *surname)
    }

    pub(super) fn with_surname(
        rng: &mut ChaCha8Rng,
        female: bool,
        surname: (&'static str, &'static str),
    ) -> Self {
        if female {
            Self {
                first: *pick(rng, &FEMALE_FIRST),
                surname: surname.1,
            }
        } else {
            Self {
                first: *pick(rng, &MALE_FIRST),
                surname: surname.0,
            }
        }
    }

    pub(super) fn full(&self) -> String {
        format!("{} {}", self.first, self.surname)
    }

    /// The name as a bank would print it (KB: `SURNAME FIRST`, others vary).
    pub(super) fn display(&self, rng: &mut ChaCha8Rng) -> String {
        match rng.gen_range(0..10u32) {
            0..=2 => format!(
                "{} {}",
                self.surname.to_uppercase(),
                self.first.to_uppercase()
            ),
            3..=5 => self.full(),
            6..=7 => format!("{} {}", self.surname, self.first),
            8 => format!("Ing. {}", self.full()),
            _ => format!("Mgr. {}", self.full()),
        }
    }
}
