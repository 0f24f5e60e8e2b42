# Qafila — UI strings in English. Arabic (ar-EG.ftl) is the primary; every id
# here must also be there (a test checks both ways). Numbers arrive formatted
# with the digits setting.

## The app

app-name = Qafila
app-version = Version
app-loading = Loading…

## Common actions

action-retry = Try again
action-close = Close
action-yes = Yes, confirm
action-no = No, go back

## Errors made on the UI's side

error-transport = Could not talk to the app: { $detail }
error-unreachable = The app is not answering; check that it is running and try again ({ $detail })
error-bad_answer = The app gave an answer that could not be read; try again ({ $detail })

## Navigation

nav-label = Sections
nav-scan = Scan
nav-today = Today
nav-lead = Lead
nav-registrar = Register
nav-settings = Settings

## Sync

sync-tap = Tap to sync now
sync-tap-join = This device is in no convoy; tap to join one
sync-state-local_only = This device only
sync-state-never = Not synced yet
sync-state-idle = Synced
sync-state-syncing = Syncing…
sync-state-offline = Offline
sync-state-error = Sync error
sync-pending =
    { $count ->
        [one] { $count } record waiting
       *[other] { $count } records waiting
    }
sync-last = last synced { $when }

## First run

first-run-title = Welcome to Qafila
first-run-intro = Give this device a name, so the convoy lead recognises it when approving it.
first-run-device-name = Device name
first-run-device-name-example = e.g. Mona's tablet – mosque point
first-run-device-name-hint = A name that says which device it is and who carries it.
first-run-create = Create the device
first-run-enroll-intro = Join a convoy: type the relay's address and the code the lead gave you.
first-run-skip = Skip: work alone, offline
first-run-skip-hint = You can join a convoy later in Settings.

## Joining a convoy

enroll-relay = Relay address
enroll-code = The lead's code
enroll-code-hint = Type it as printed, with the dashes, or paste the invite link.
enroll-submit = Join the convoy
enroll-busy = Joining…
enroll-scan = Scan the lead's code with the camera
enroll-scanned = The address and the code were filled in from the scanned code: check them, then join the convoy.
enroll-scan-not-invite = That is not a convoy invite. Scan the code on the lead's screen.

## Today

today-title = Today's work
today-convoy = Convoy
today-convoy-none = Choose the convoy
today-convoy-unnamed = Convoy of { $day }
today-convoy-new = New convoy (its plan arrives with the first sync)
today-no-convoy = This device is not in a convoy yet; join one in Settings, or work alone.
today-waiting-title = Waiting for the lead's approval
today-waiting-fingerprint = Show the lead this device's fingerprint; it must match the one on the lead's screen:
today-lead-fingerprint = The convoy lead's key:
today-site = Distribution point
today-site-placeholder = Village or place name
today-site-hint = Pick a point below, or type a new name.
today-known-sites = Known points
today-start = Start scanning

## Scan

scan-site = Point
scan-label = Scan the card or type its code
scan-placeholder = Scan a card…
scan-submit = Check
scan-no-site = Choose the distribution point first, then start scanning.
scan-choose-site = Choose the point

## Camera (scan screen and joining a convoy)

camera-open = Scan with the camera
camera-starting = Starting the camera…
camera-hint = Point the camera at the QR code and hold it still until it reads.
camera-close = Close the camera
camera-view = Camera picture
camera-problem-denied = The camera is not allowed. To allow it, open the device's or browser's settings, then Permissions, then Camera, allow Qafila, and tap the button again. The scanner and typing the code still work.
camera-problem-not-found = This device has no camera. Use the scanner or type the code.
camera-problem-insecure = The camera cannot be used here: in a browser it needs a secure (https) page. Use the scanner or type the code.
camera-problem-busy = The camera is busy or would not start: close any other app that uses it and try again. Meanwhile, use the scanner or type the code.
camera-problem-decoder = The code reader would not start on this device. Close the app, open it again and retry; meanwhile, use the scanner or type the code.
camera-problem-stopped = The camera stopped. Tap the button to start it again.
camera-problem-failed = The camera would not start. Try again; meanwhile, use the scanner or type the code.

## Scan result

status-ok = Hand out
status-already_served = Already served
status-unknown_beneficiary = Sync, then scan again
status-malformed = Card unreadable
status-unknown_issuer = Card from an unknown issuer
status-bad_signature = Forged or altered card
status-revoked = Card revoked
status-issuer_withdrawn = Card's issuing key withdrawn
status-issuer_device_revoked = Card from a revoked device's key
result-card-warning = Check this card
result-name-erased = (name erased)
result-village = Village
result-household-size = Household size
result-card = Card
result-checked-in-before = This household already checked in today.
result-remaining-title = Still to receive
result-item-received = received
result-sync-now = Sync now

## Units

unit-box = { $count ->
    [one] box
   *[other] boxes
}
unit-meal = { $count ->
    [one] meal
   *[other] meals
}
unit-kg = kg
unit-piece = { $count ->
    [one] piece
   *[other] pieces
}
unit-pack = { $count ->
    [one] pack
   *[other] packs
}
unit-service = { $count ->
    [one] service
   *[other] services
}

## Hand-out

handout-basket = Standard basket
handout-items-title = Or item by item
handout-remaining = { $qty } { $unit } left
handout-less = Less { $item }
handout-more = More { $item }
handout-lot = Lot number
handout-expiry = Expiry date
handout-record-chosen = Record the chosen items
recorded-title = Recorded:
recorded-nothing = Nothing of the standard basket is left for this household.
undo-button = Undo ({ $seconds })
undo-done = The hand-out was undone.

## Manual search

manual-open = No card? Search by name or national ID
manual-title = Manual search
manual-placeholder = Name or national ID
manual-search = Search
manual-no-results = Nobody with that name or number on this device.
manual-household = { $size } people
manual-nid-last4 = National ID ends
manual-reason = Why without a card? ({ $name })
manual-reason-forgot = Forgot the card
manual-reason-lost = Lost the card
manual-reason-damaged = Card damaged, cannot be read
manual-check-in = Check in

## Lead

lead-title = Lead
lead-stock-title = Stock at { $site }
lead-day-closed = day closed
lead-stock-empty = No stock movement at this point today.
lead-col-item = Item
lead-col-loaded = Loaded
lead-col-handed-out = Handed out
lead-col-expected = Should be left
lead-col-counted = Counted
lead-opening = opening balance { $qty }
lead-no-site = Choose the distribution point to see its stock.
lead-anomalies-title = To review
lead-anomalies-none = Nothing to review.
lead-devices-title = Convoy devices
lead-devices-not-lead = Only the convoy lead approves or revokes devices.
lead-device-this = (this device)
lead-approve = Approve
lead-revoke = Revoke
lead-confirm-label = Confirm
lead-confirm-approve = Approve “{ $name }” as { $role }?
lead-confirm-compare = Check that the device's own screen shows the same fingerprint:
lead-type-fingerprint = It did not enroll with a code from this device: type the fingerprint its own screen shows
lead-confirm-role = Make “{ $name }” a { $role }? From its next records on.
lead-change-role = Change role
lead-role-label = Role of { $name }
lead-fingerprint = Fingerprint
lead-device-bound = Enrolled with a code from this device
lead-device-keys-swapped = Its keys are not the ones it enrolled with: do not approve it (the relay may be swapping keys)
lead-revoked-done = “{ $name }” is revoked for good; the convoy key was rotated.
lead-revoked-unreached = Not told yet (publish the convoy there again):
lead-confirm-revoke = Revoke “{ $name }”? It will read nothing new.
lead-no-convoy = This device is not in a convoy.
member-role-lead = lead
member-role-member = enrolled
member-role-volunteer = volunteer
member-role-registrar = registrar
member-role-storekeeper = storekeeper
member-role-legacy = no role yet
convoy-status-pending = waiting for approval
convoy-status-approved = approved
convoy-status-revoked = revoked

## Registrar

registrar-title = Registrar
import-title = Import a list
import-pick = Choose a file (CSV, Excel or ODS)
import-choose = Choose the file…
import-hint = The file is checked first without registering anything; then you confirm.
import-busy = Reading the file…
import-would =
    The file has { $rows } rows: { $registered } would be registered, { $refused } refused.
import-done =
    Registered { $registered } of { $rows } rows; { $refused } refused.
import-duplicates = { $count } likely duplicates are waiting in the review queue.
import-ignored-columns = Columns not read
import-other-sheets = Only the sheet “{ $sheet }” was read; other sheets hold data
import-col-line = Row
import-col-name = Name
import-col-reason = Reason
import-confirm = Register { $count } people
dup-title = Likely duplicates
dup-none = No duplicates to review.
dup-reason-same_national_id = Same national ID
dup-reason-similar_name = Similar names, same village and household size
dup-keep = Keep this one
dup-merge-reason = Reason for the merge
dup-merge = Merge
dup-dismiss = Not the same person
person-name = Name
person-phone = Phone
cards-title = Cards
cards-village = Village
cards-no-villages = Nobody is registered yet.
cards-issue = Issue cards to those without one
cards-print = Print the village's cards
cards-issued = { $issued } cards issued, { $skipped } skipped.
cards-printed = { $cards } cards on { $pages } pages sent to printing.

## Settings

settings-title = Settings
settings-language = Language
settings-digits = Digits
settings-convoys = Convoys
settings-no-convoys = This device is in no convoy.
settings-relay = Relay
settings-join = Join a convoy
settings-about = About
settings-version = Version
settings-device-name = Device name
settings-device-id = Device id
settings-fingerprint = Fingerprint
settings-my-role = This device's role

## Day end

dayend-title = Day end
dayend-closed-title = Day closed and signed
dayend-count-title = Count what is left
dayend-count-hint = Count what is physically on the truck before seeing what should be left.
dayend-count-empty = No stock at this point today: nothing to count.
dayend-count-start = Start the count
dayend-count-show = Show the differences
dayend-col-variance = Difference
dayend-col-reason = Reason
dayend-reason-pick = Pick a reason
dayend-note = Note
dayend-count-record = Record the count
dayend-count-recorded = Count recorded.
dayend-count-again = Count again
dayend-devices-title = Devices not synced since the last hand-out
dayend-devices-none = Every device has synced since the last hand-out.
dayend-devices-offline = The relay cannot be reached: nobody's sync can be confirmed.
dayend-device-seen = last synced { $when }
dayend-device-never = not seen since the relay started
dayend-close = Close the day and sign
dayend-close-without = Close without the devices above (the close records them)
dayend-closed-by = Closed by { $name }, { $when }
dayend-closed-without = Closed without: { $names }
dayend-signature-valid = Signature valid: the figures are the ones signed.
dayend-signature-invalid = Signature NOT valid: the figures changed after the close or the signature is wrong.
review-note = What explains it?
review-explained = Explained
review-loss = Write off as a loss
review-done-explained = Explained: { $note }
review-done-loss = Written off as a loss { $note }
review-open = Not reviewed
invite-title = Add a device
invite-create = Make an enrollment code
invite-hint = On the new device's first screen, scan this code or type the relay and the code.
stock-move-title = Stock movement
stock-move-kind = Movement
stock-move-load = Loaded (waybill)
stock-move-transfer = Sent to another site or truck
stock-move-return = Returned to the warehouse
stock-move-loss = Lost or damaged
stock-move-item = Item
stock-move-qty = Quantity
stock-move-to = To site
stock-move-waybill = Waybill number
stock-move-lot = Lot number
stock-move-expiry = Expiry date
stock-move-reason = Reason
stock-move-note = Note
stock-move-record = Record
stock-move-recorded = Recorded.
item-food_box = Food box
item-hot_meal = Hot meal
item-meat_kg = Meat (kg)
item-blanket = Blanket
item-medicine = Medicine
loss-damaged = Damaged
loss-spoiled = Spoiled
loss-expired = Expired
loss-stolen = Stolen
loss-missing = Missing
loss-other = Other (write a note)
reports-title = Reports and exports
reports-print = Print the day report
reports-printed = The day report went to the print dialog.
reports-export-kind = Export
reports-kind-distribution = Distribution (village × item × day)
reports-kind-5w = 5W summary
reports-format = Format
reports-hxl = With HXL hashtags (a second header row)
reports-from = From
reports-to = To
reports-export = Save the file
reports-exported = Saved { $name } ({ $rows } rows).
place-title = Where this point is
place-governorate = Governorate
place-district = District (markaz)
place-association = Association running it
place-save = Save
place-saved = Saved: reports and exports name this place.
place-missing = Reports and exports need the governorate and the association.

# The passphrase that opens this device's data (issue 14).
passphrase-new = Passphrase
passphrase-again = Type the passphrase again
passphrase-hint = At least { $min } characters; a few words are easiest to remember. You type it each time the app opens, and without it nobody can read this device's data — not even us. Write it down somewhere safe.
passphrase-mismatch = The two do not match
passphrase-current = Current passphrase
passphrase-change-title = Change the passphrase
passphrase-change-button = Change the passphrase
passphrase-changed = The passphrase is changed. Use the new one from now on.
unlock-title = This device is locked
unlock-intro = Type the passphrase to open this device's data.
unlock-passphrase = Passphrase
unlock-button = Unlock
unlock-forgotten = Forgot it? The data cannot be opened without it: sync a new device with the convoy, and ask the convoy lead to revoke this one.
protect-title = Protect this device's data
protect-intro = This device holds data from an earlier Qafila, kept without encryption. Choose a passphrase (at least { $min } characters) and the data is encrypted with it now.
protect-button = Encrypt and open
lock-button = Lock
lock-after-title = Lock by itself after
lock-after-minutes = { $n } min
lock-policy-note = The convoy lead lets a device sit idle for at most { $n } min before it locks.
lock-policy-title = Every device of the convoy locks after
lock-policy-intro = The longest any device of the convoy may stay open unused. Devices get it when they sync.
keys-title = Back up the convoy's keys
keys-backup-intro = If this laptop is lost, this backup lets another laptop carry the convoy on as its lead. Give it a passphrase that is not this device's, keep the file and the paper away from the laptop, and the passphrase somewhere else again.
keys-backup-passphrase = The backup's passphrase
keys-export-button = Back up and save the file
keys-exported = Saved as { $file } (with { $issuers } card-issuing keys).
keys-print-button = Print the key sheet (QR codes)
restore-open = Restore a lead from a key backup
restore-back = Back
restore-intro = For a laptop replacing the lead's: pick the backup file, or scan every code of its sheet in any order. The first sync takes the lead's records back from the relay; nothing can be recorded before.
restore-file = The backup file
restore-codes = Or the sheet's codes (one per line)
restore-codes-hint = Scan every code of every page with the scanner, one after another.
restore-backup-passphrase = The backup's passphrase
restore-button = Restore the keys
lock-after-never = Never
settings-data-protection = This device's data
settings-data-protection-intro = This device's data is encrypted; only the passphrase opens it.
