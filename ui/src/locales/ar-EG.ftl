# قافلة — نصوص الواجهة بالعامية المصرية (اللغة الأساسية).
# كل معرّف هنا لازم يكون موجود في en.ftl كمان (فيه اختبار بيتأكد).
# الأرقام بتيجي متنسّقة حسب إعداد الأرقام (٠١٢ أو 012).

## التطبيق

app-name = قافلة
app-version = الإصدار
app-loading = بيحمّل…

## أزرار عامة

action-retry = حاول تاني
action-close = اقفل
action-yes = أيوه، أكّد
action-no = لأ، رجوع

## أخطاء من ناحية الواجهة

error-transport = مقدرناش نكلّم البرنامج: { $detail }
error-unreachable = البرنامج مش بيرد دلوقتي؛ اتأكد إنه شغال وحاول تاني ({ $detail })
error-bad_answer = البرنامج رد برد مش مفهوم؛ حاول تاني ({ $detail })

## التنقل

nav-label = الأقسام
nav-scan = مسح
nav-today = اليوم
nav-lead = المسؤول
nav-registrar = التسجيل
nav-settings = الإعدادات

## المزامنة

sync-tap = دوس للمزامنة دلوقتي
sync-tap-join = الجهاز ده مش في قافلة؛ دوس عشان تنضم لواحدة
sync-state-local_only = على الجهاز ده بس
sync-state-never = لسه ما اتزامنش
sync-state-idle = متزامن
sync-state-syncing = بيزامن…
sync-state-offline = مفيش اتصال
sync-state-error = المزامنة فيها مشكلة
sync-pending =
    { $count ->
        [one] سجل واحد مستني
        [two] سجلين مستنيين
        [few] { $count } سجلات مستنية
       *[other] { $count } سجل مستني
    }
sync-last = آخر مزامنة { $when }

## أول تشغيل

first-run-title = أهلاً بيك في قافلة
first-run-intro = الجهاز ده محتاج اسم، عشان مسؤول القافلة يعرفه لما يوافق عليه.
first-run-device-name = اسم الجهاز
first-run-device-name-example = مثلاً: تابلت منى – نقطة الجامع
first-run-device-name-hint = اكتب اسم يعرّف الجهاز ومين شايله.
first-run-create = اعمل الجهاز
first-run-enroll-intro = انضم لقافلة: اكتب عنوان السيرفر والكود اللي إداهولك المسؤول.
first-run-skip = تخطّى، هشتغل لوحدي من غير اتصال
first-run-skip-hint = تقدر تنضم لقافلة بعدين من الإعدادات.

## الانضمام لقافلة

enroll-relay = عنوان السيرفر
enroll-code = كود المسؤول
enroll-code-hint = اكتبه زي ما هو مكتوب، بالشرَط، أو الزق لينك الدعوة.
enroll-submit = انضم للقافلة
enroll-busy = بينضم…
enroll-scan = امسح كود المسؤول بالكاميرا
enroll-scanned = العنوان والكود اتملوا من الكود اللي اتمسح: راجعهم، وبعدين انضم للقافلة.
enroll-scan-not-invite = ده مش كود انضمام لقافلة. امسح الكود اللي على شاشة المسؤول.

## اليوم

today-title = شغل النهارده
today-convoy = القافلة
today-convoy-none = اختار القافلة
today-convoy-unnamed = قافلة يوم { $day }
today-convoy-new = قافلة جديدة (الخطة توصل مع أول مزامنة)
today-no-convoy = الجهاز ده مش في قافلة لسه؛ تقدر تنضم من الإعدادات، أو تشتغل لوحدك.
today-waiting-title = مستني موافقة قائد القافلة
today-waiting-fingerprint = اعرض بصمة الجهاز ده على القائد؛ لازم تطابق اللي على شاشته:
today-lead-fingerprint = مفتاح قائد القافلة:
today-site = نقطة التوزيع
today-site-placeholder = اسم القرية أو المكان
today-site-hint = اختار نقطة من اللي تحت، أو اكتب اسم جديد.
today-known-sites = النقط المعروفة
today-start = ابدأ المسح

## المسح

scan-site = النقطة
scan-label = امسح الكارت أو اكتب الكود
scan-placeholder = امسح الكارت…
scan-submit = تحقّق
scan-no-site = اختار نقطة التوزيع الأول، وبعدين ابدأ المسح.
scan-choose-site = اختار النقطة

## الكاميرا (شاشة المسح والانضمام لقافلة)

camera-open = امسح بالكاميرا
camera-starting = بيشغّل الكاميرا…
camera-hint = وجّه الكاميرا على كود الـ QR وثبّتها لحد ما يتقري.
camera-close = اقفل الكاميرا
camera-view = صورة الكاميرا
camera-problem-denied = الكاميرا مش مسموح بيها. عشان تسمح بيها: افتح إعدادات الجهاز أو المتصفح، وبعدين «الأذونات»، وبعدين «الكاميرا»، واسمح لقافلة، وارجع دوس على الزرار تاني. جهاز المسح والكتابة بإيدك شغالين عادي.
camera-problem-not-found = مفيش كاميرا على الجهاز ده. استخدم جهاز المسح أو اكتب الكود.
camera-problem-insecure = الكاميرا مش متاحة هنا: في المتصفح لازم الصفحة تكون آمنة (https). استخدم جهاز المسح أو اكتب الكود.
camera-problem-busy = الكاميرا مشغولة أو مش راضية تشتغل: اقفل أي برنامج تاني بيستخدمها وجرّب تاني. لحد ساعتها استخدم جهاز المسح أو اكتب الكود.
camera-problem-decoder = قارئ الكود مش راضي يشتغل على الجهاز ده. اقفل التطبيق وافتحه تاني وجرّب؛ لحد ساعتها استخدم جهاز المسح أو اكتب الكود.
camera-problem-stopped = الكاميرا وقفت. دوس على الزرار عشان تشغّلها تاني.
camera-problem-failed = الكاميرا مش راضية تشتغل. جرّب تاني، ولحد ساعتها استخدم جهاز المسح أو اكتب الكود.

## نتيجة المسح

status-ok = اصرف
status-already_served = استلم قبل كده
status-unknown_beneficiary = زامن وامسح تاني
status-malformed = الكارت مش مقروء
status-unknown_issuer = كارت من جهة مش معروفة
status-bad_signature = كارت مزوّر أو متعدّل
status-revoked = كارت ملغي
status-issuer_withdrawn = مفتاح إصدار الكارت اتسحب
status-issuer_device_revoked = كارت بمفتاح جهاز اتلغى
result-card-warning = راجع الكارت ده
result-name-erased = (الاسم اتمسح)
result-village = القرية
result-household-size = أفراد الأسرة
result-card = الكارت
result-checked-in-before = الأسرة دي اتسجّل حضورها النهارده قبل كده.
result-remaining-title = فاضل لها
result-item-received = استلمت
result-sync-now = زامن دلوقتي

## الوحدات

unit-box = كرتونة
unit-meal = وجبة
unit-kg = كجم
unit-piece = قطعة
unit-pack = علبة
unit-service = خدمة

## الصرف

handout-basket = الحصة كاملة
handout-items-title = أو اختار صنف صنف
handout-remaining = فاضل { $qty } { $unit }
handout-less = قلّل { $item }
handout-more = زوّد { $item }
handout-lot = رقم التشغيلة
handout-expiry = تاريخ الصلاحية
handout-record-chosen = سجّل الأصناف المختارة
recorded-title = اتسجّل:
recorded-nothing = مفيش حاجة في الحصة الأساسية فاضلة للأسرة دي.
undo-button = تراجع ({ $seconds })
undo-done = اتلغى الصرف.

## البحث اليدوي

manual-open = مفيش كارت؟ دوّر بالاسم أو الرقم القومي
manual-title = بحث يدوي
manual-placeholder = الاسم أو الرقم القومي
manual-search = دوّر
manual-no-results = مفيش حد بالاسم أو الرقم ده على الجهاز.
manual-household = { $size } أفراد
manual-nid-last4 = الرقم القومي آخره
manual-reason = ليه من غير كارت؟ ({ $name })
manual-reason-forgot = نسي الكارت
manual-reason-lost = الكارت ضاع
manual-reason-damaged = الكارت بايظ ومش بيتقري
manual-check-in = سجّل الحضور

## المسؤول

lead-title = المسؤول
lead-stock-title = المخزن في { $site }
lead-day-closed = اليوم اتقفل
lead-stock-empty = مفيش حركة مخزن في النقطة دي النهارده.
lead-col-item = الصنف
lead-col-loaded = المحمّل
lead-col-handed-out = اتصرف
lead-col-expected = المفروض فاضل
lead-col-counted = المعدود
lead-opening = رصيد أول اليوم { $qty }
lead-no-site = اختار نقطة التوزيع عشان تشوف المخزن.
lead-anomalies-title = ملاحظات محتاجة مراجعة
lead-anomalies-none = مفيش ملاحظات.
lead-devices-title = أجهزة القافلة
lead-devices-not-lead = الموافقة على الأجهزة وإلغاؤها للمسؤول بس.
lead-device-this = (الجهاز ده)
lead-approve = وافق
lead-revoke = الغي
lead-confirm-label = تأكيد
lead-confirm-approve = توافق على «{ $name }» بدور { $role }؟
lead-confirm-compare = اتأكد إن شاشة الجهاز نفسه عليها نفس البصمة:
lead-type-fingerprint = الجهاز ده متسجلش بكود من الجهاز ده: اكتب البصمة اللي على شاشته
lead-confirm-role = تخلي «{ $name }» { $role }؟ من سجلاته الجاية.
lead-change-role = غيّر الدور
lead-role-label = دور { $name }
lead-fingerprint = البصمة
lead-device-bound = اتسجل بكود من الجهاز ده
lead-device-keys-swapped = مفاتيحه مش هي اللي اتسجل بيها: متوافقش عليه (الخادم ممكن يكون بيبدّل المفاتيح)
lead-revoked-done = «{ $name }» اتلغى نهائي، ومفتاح القافلة اتغيّر.
lead-revoked-unreached = لسه ماوصلهومش الإلغاء (انشر القافلة عليهم تاني):
lead-confirm-revoke = تلغي «{ $name }»؟ مش هيقدر يقرا أي حاجة جديدة.
lead-no-convoy = الجهاز ده مش في قافلة.
member-role-lead = مسؤول
member-role-member = متسجل
member-role-volunteer = متطوع
member-role-registrar = مسؤول تسجيل
member-role-storekeeper = أمين مخزن
member-role-legacy = من غير دور لسه
convoy-status-pending = مستني الموافقة
convoy-status-approved = متوافق عليه
convoy-status-revoked = ملغي

## التسجيل

registrar-title = التسجيل
import-title = استيراد كشف
import-pick = اختار ملف (CSV أو Excel أو ODS)
import-choose = اختار الملف…
import-hint = هنراجع الملف الأول من غير ما نسجّل حاجة، وبعدين تأكّد.
import-busy = بيقرا الملف…
import-would =
    الملف فيه { $rows } صف: { $registered } هيتسجّلوا، و{ $refused } مرفوضين.
import-done =
    اتسجّل { $registered } من { $rows } صف، و{ $refused } مرفوضين.
import-duplicates = فيه { $count } احتمال تكرار في قايمة المراجعة.
import-ignored-columns = أعمدة ما اتقرتش
import-other-sheets = اتقرت الورقة «{ $sheet }» بس؛ أوراق تانية فيها بيانات
import-col-line = الصف
import-col-name = الاسم
import-col-reason = السبب
import-confirm = سجّل { $count } شخص
dup-title = احتمال تكرار
dup-none = مفيش تكرار محتاج مراجعة.
dup-reason-same_national_id = نفس الرقم القومي
dup-reason-similar_name = أسماء شبه بعض، نفس القرية ونفس عدد الأفراد
dup-keep = احتفظ بده
dup-merge-reason = سبب الدمج
dup-merge = ادمج
dup-dismiss = مش نفس الشخص
person-name = الاسم
person-phone = التليفون
cards-title = الكروت
cards-village = القرية
cards-no-villages = مفيش مستفيدين متسجّلين لسه.
cards-issue = اطلع كروت للي معندوش
cards-print = اطبع كروت القرية
cards-issued = اتعمل { $issued } كارت، واتساب { $skipped }.
cards-printed = اتبعت { $cards } كارت على { $pages } صفحة للطباعة.

## الإعدادات

settings-title = الإعدادات
settings-language = اللغة
settings-digits = الأرقام
settings-convoys = القوافل
settings-no-convoys = الجهاز ده مش في أي قافلة.
settings-relay = السيرفر
settings-join = انضم لقافلة
settings-about = عن البرنامج
settings-version = الإصدار
settings-device-name = اسم الجهاز
settings-device-id = رقم الجهاز
settings-fingerprint = البصمة
settings-my-role = دور الجهاز ده

## قفل اليوم

dayend-title = قفل اليوم
dayend-closed-title = اليوم اتقفل واتوقّع
dayend-count-title = عِد الباقي
dayend-count-hint = عِد اللي موجود فعلاً على العربية قبل ما تشوف المفروض يكون فاضل كام.
dayend-count-empty = مفيش مخزن في النقطة دي النهارده: مفيش حاجة تتعد.
dayend-count-start = ابدأ الجرد
dayend-count-show = وريني الفرق
dayend-col-variance = الفرق
dayend-col-reason = السبب
dayend-reason-pick = اختار السبب
dayend-note = ملاحظة
dayend-count-record = سجّل الجرد
dayend-count-recorded = الجرد اتسجّل.
dayend-count-again = اعد تاني
dayend-devices-title = أجهزة ماعملتش مزامنة من آخر صرف
dayend-devices-none = كل الأجهزة عملت مزامنة بعد آخر صرف.
dayend-devices-offline = مش قادرين نوصل للخادم: مش عارفين مين عمل مزامنة.
dayend-device-seen = آخر مزامنة { $when }
dayend-device-never = ماظهرش من ساعة ما الخادم اشتغل
dayend-close = اقفل اليوم ووقّع
dayend-close-without = اقفل من غير الأجهزة دي (القفل هيسجّلها)
dayend-closed-by = قفله { $name }، { $when }
dayend-closed-without = اتقفل من غير: { $names }
dayend-signature-valid = التوقيع سليم: الأرقام هي اللي اتوقّعت.
dayend-signature-invalid = التوقيع مش سليم: الأرقام اتغيرت بعد القفل أو التوقيع غلط.
review-note = إيه اللي يوضّحها؟
review-explained = اتوضّحت
review-loss = احسبها فاقد
review-done-explained = اتوضّحت: { $note }
review-done-loss = اتحسبت فاقد { $note }
review-open = لسه ماتراجعتش
invite-title = ضيف جهاز
invite-create = اعمل كود تسجيل
invite-hint = في أول شاشة على الجهاز الجديد، امسح الكود ده أو اكتب الخادم والكود.
stock-move-title = حركة مخزن
stock-move-kind = نوع الحركة
stock-move-load = تحميل (بوليصة)
stock-move-transfer = اتبعت لنقطة أو عربية تانية
stock-move-return = مرتجع للمخزن
stock-move-loss = فاقد أو تالف
stock-move-item = الصنف
stock-move-qty = الكمية
stock-move-to = لنقطة
stock-move-waybill = رقم البوليصة
stock-move-lot = رقم التشغيلة
stock-move-expiry = تاريخ الصلاحية
stock-move-reason = السبب
stock-move-note = ملاحظة
stock-move-record = سجّل
stock-move-recorded = اتسجّلت.
item-food_box = كرتونة مواد غذائية
item-hot_meal = وجبة ساخنة
item-meat_kg = لحوم (كيلو)
item-blanket = بطانية
item-medicine = دوا
loss-damaged = تالف
loss-spoiled = فاسد
loss-expired = منتهي الصلاحية
loss-stolen = مسروق
loss-missing = مفقود
loss-other = سبب تاني (اكتب ملاحظة)
reports-title = التقارير والتصدير
reports-print = اطبع تقرير اليوم
reports-printed = تقرير اليوم اتبعت للطباعة.
reports-export-kind = تصدير
reports-kind-distribution = التوزيع (قرية × صنف × يوم)
reports-kind-5w = ملخص 5W
reports-format = الصيغة
reports-hxl = بوسوم HXL (صف عناوين تاني)
reports-from = من
reports-to = لحد
reports-export = احفظ الملف
reports-exported = اتحفظ { $name } ({ $rows } صف).
place-title = النقطة دي فين
place-governorate = المحافظة
place-district = المركز
place-association = الجمعية اللي شغالة فيها
place-save = احفظ
place-saved = اتحفظ: التقارير والتصدير هيكتبوا المكان ده.
place-missing = التقارير والتصدير محتاجين المحافظة والجمعية.

# The passphrase that opens this device's data (issue 14).
passphrase-new = كلمة السر
passphrase-again = اكتب كلمة السر تاني
passphrase-hint = { $min } حروف على الأقل؛ كام كلمة ورا بعض أسهل في الحفظ. هتكتبها كل ما تفتح التطبيق، ومن غيرها محدش يقدر يقرا بيانات الجهاز — ولا إحنا. اكتبها في مكان أمين.
passphrase-mismatch = الكلمتين مش زي بعض
passphrase-current = كلمة السر الحالية
passphrase-change-title = غيّر كلمة السر
passphrase-change-button = غيّر كلمة السر
passphrase-changed = كلمة السر اتغيّرت. من دلوقتي افتح بالكلمة الجديدة.
unlock-title = الجهاز مقفول
unlock-intro = اكتب كلمة السر عشان تفتح بيانات الجهاز.
unlock-passphrase = كلمة السر
unlock-button = افتح
unlock-forgotten = نسيت كلمة السر؟ البيانات مش هتتفتح من غيرها: زامن جهاز جديد مع القافلة، واسأل مسؤول القافلة يلغي الجهاز ده.
protect-title = احمي بيانات الجهاز
protect-intro = الجهاز ده شايل بيانات من نسخة قديمة من قافلة من غير تشفير. اختار كلمة سر ({ $min } حروف على الأقل) وهنشفّر البيانات بيها دلوقتي.
protect-button = شفّر وافتح
lock-button = اقفل
lock-after-title = يقفل لوحده بعد
lock-after-minutes = { $n } دقيقة
lock-policy-note = قائد القافلة محدد إن الجهاز يتقفل بعد { $n } دقيقة من غير استخدام على الأكتر.
lock-policy-title = كل أجهزة القافلة تقفل بعد
lock-policy-intro = أقصى مدة يفضل فيها أي جهاز في القافلة مفتوح من غير استخدام. بتوصل الأجهزة مع المزامنة.
keys-title = نسخة احتياطية لمفاتيح القافلة
keys-backup-intro = لو اللابتوب ده ضاع، النسخة دي بتخلّي لابتوب تاني يكمّل القافلة كقائد. اختار لها كلمة سر غير كلمة سر الجهاز، واحفظ الملف والورق بعيد عن اللابتوب وكلمة السر في مكان تالت.
keys-backup-passphrase = كلمة سر النسخة الاحتياطية
keys-export-button = اعمل النسخة واحفظ الملف
keys-exported = اتحفظت في { $file } (ومعاها { $issuers } مفتاح إصدار كروت).
keys-print-button = اطبع ورق المفاتيح (أكواد QR)
restore-open = رجّع مفاتيح قائد من نسخة احتياطية
restore-back = رجوع
restore-intro = للابتوب جديد بدل لابتوب القائد: اختار ملف النسخة الاحتياطية أو امسح أكواد الورق كلها بأي ترتيب. أول مزامنة بترجّع سجلات القائد من السيرفر، ومفيش تسجيل قبلها.
restore-file = ملف النسخة الاحتياطية
restore-codes = أو أكواد الورق (كود في كل سطر)
restore-codes-hint = امسح كل كود في الصفحات بالقارئ، واحد ورا التاني.
restore-backup-passphrase = كلمة سر النسخة الاحتياطية
restore-button = رجّع المفاتيح
lock-after-never = أبداً
settings-data-protection = حماية بيانات الجهاز
settings-data-protection-intro = بيانات الجهاز متشفّرة؛ بتتفتح بكلمة السر بس.
